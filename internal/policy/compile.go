package policy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/signet-dev/signet/internal/attest"
	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/keysource"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
	"github.com/signet-dev/signet/internal/verify/notaryv1"
	"github.com/signet-dev/signet/internal/verify/notation"
	"github.com/signet-dev/signet/internal/verify/static"
)

// Registry is what a compiled policy needs from the registry layer:
// resolving tags to digests, and the options verifiers fetch with.
type Registry interface {
	Resolve(ctx context.Context, ref imageref.Ref) (name.Digest, error)
	cosign.Registry
}

// nameRE is the syntax of validator and trust root names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$`)

// compiledRule is a rule with everything bound.
type compiledRule struct {
	index     int
	pattern   *Pattern
	validator string
	vtype     string
	verifier  verify.Verifier
	hash      string
	mode      string
	mutate    bool
	// platforms is with.platforms: which manifests of an index verify.
	platforms platformRule
	// where names the rule in reasons: `rule "pattern" (validator "v")`.
	where string
	// delegate is set for validator: namespace (set.go).
	delegate bool
	// unit is the policy object of the rule in an engine from
	// CompileSet; nil in one from Compile.
	unit *Unit
	// keys are the key sources (k8s://, KMS) of the validators the rule
	// verifies with, attestations' included (Engine.KeySources).
	keys []*keysource.Source
}

func validMode(m string) bool { return m == ModeEnforce || m == ModeWarn || m == ModeAudit }

// Compile checks a document's meaning and builds an Engine. Every problem is
// reported, each with its field path. reg is used by the engine at
// evaluation time only: Compile makes no network request.
func Compile(doc *Document, reg Registry, opts ...CompileOption) (*Engine, error) {
	var o compileOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.keyRefs == nil {
		o.keyRefs = map[string]*keysource.Source{}
	}
	var p problems
	if doc == nil {
		p.add("", "policy is empty")
		return nil, p.err()
	}
	if doc.APIVersion != APIVersion {
		p.add("apiVersion", "must be %q, got %q", APIVersion, doc.APIVersion)
	}
	if doc.Kind != Kind && doc.Kind != KindCluster {
		p.add("kind", "must be %q or %q, got %q", Kind, KindCluster, doc.Kind)
	}
	mode := doc.Mode
	if mode == "" {
		mode = ModeEnforce
	}
	if !validMode(mode) {
		p.add("mode", "must be %q, %q or %q, got %q", ModeEnforce, ModeWarn, ModeAudit, doc.Mode)
	}
	pinning := doc.Pinning
	if pinning == "" {
		pinning = PinAll
	}
	if pinning != PinAll && pinning != PinPodsOnly && pinning != PinNone {
		p.add("pinning", "must be %q, %q or %q, got %q", PinAll, PinPodsOnly, PinNone, doc.Pinning)
	}
	insecure := checkInsecureRegistries(doc.InsecureRegistries, &p)
	resources := compileResources(doc.Resources, &p)
	validators := compileValidators(doc.Validators, o, &p)
	o.authRegistries = authRegistries(doc, &p)
	if len(doc.Rules) == 0 {
		p.add("rules", "at least one rule is required (an image no rule matches is denied)")
	}
	if n := conditionCount(doc.Rules); n > MaxConditions {
		p.add("rules", "%d CEL conditions under with.attestations; at most %d in one policy", n, MaxConditions)
		doc.src.locate(p)
		return nil, p.err()
	}
	seen := map[string]int{}
	var rules []*compiledRule
	for i, r := range doc.Rules {
		if cr := compileRule(i, r, validators, reg, o, seen, &p); cr != nil {
			cr.mode, cr.mutate = mode, r.With.Mutate == nil || *r.With.Mutate
			if r.With.Mode != "" {
				cr.mode = r.With.Mode
			}
			rules = append(rules, cr)
		}
	}
	if len(p) > 0 {
		doc.src.locate(p)
		return nil, p.err()
	}
	sort.SliceStable(rules, func(a, b int) bool { return rules[a].pattern.moreSpecific(rules[b].pattern) })
	if o.cache != nil {
		for _, r := range rules {
			if r.vtype != TypeStatic && !r.delegate {
				r.verifier = o.cache.Wrap(r.verifier, r.hash, r.validator)
			}
		}
		reg = cachedRegistry{Registry: reg, c: o.cache}
	}
	return &Engine{name: doc.Metadata.Name, rules: rules, reg: reg, mode: mode, pinning: pinning, indexes: newIndexListings(),
		insecureList: insecure, insecure: registry.NewInsecure(insecure...), resources: resources}, nil
}

// validatorSpec is a checked validator, ready to be bound to rules.
type validatorSpec struct {
	v     Validator
	index int
	// roots, nroots and kroots hold the parsed trust roots of cosign,
	// notation and notaryv1 validators; ok is false when any of them (or a
	// notaryv1 host or cert) failed to parse.
	roots    []cosign.TrustRoot
	nroots   []notation.TrustRoot
	kroots   []notaryv1.TrustRoot
	material cosign.Material // keyless cosign roots
	// ncfg is a notation validator's trustPolicyFile and trustStoreDir.
	ncfg *notation.Config
	ok   bool
	// versions is the rollback floor shared by a notaryv1 validator's rules.
	versions *notaryv1.Versions
}

func compileValidators(vs []Validator, o compileOptions, p *problems) map[string]*validatorSpec {
	out := map[string]*validatorSpec{}
	if len(vs) == 0 {
		p.add("validators", "at least one validator is required")
	}
	for i, v := range vs {
		f := fmt.Sprintf("validators[%d]", i)
		switch {
		case v.Name == "":
			p.add(f+".name", "is required")
		case !nameRE.MatchString(v.Name):
			p.add(f+".name", "%q is not a valid name (letters, digits, '.', '_', '-'; at most 64)", v.Name)
		case out[v.Name] != nil:
			p.add(f+".name", "duplicate validator name %q (also validators[%d])", v.Name, out[v.Name].index)
		case v.Name == ValidatorNamespace:
			p.add(f+".name", "%q is the built-in validator that delegates a rule's images to the namespace's ImagePolicies; choose another name", v.Name)
		}
		spec := &validatorSpec{v: v, index: i, ok: true}
		checkValidatorFields(f, v, o, p)
		switch v.Type {
		case TypeStatic:
			if v.Approve == nil {
				p.add(f+".approve", "is required for a static validator (true to allow, false to deny)")
			}
			if len(v.TrustRoots) > 0 {
				p.add(f+".trustRoots", "not allowed for a static validator")
			}
		case TypeCosign, TypeNotation:
			if v.Approve != nil {
				p.add(f+".approve", "only allowed for a static validator")
			}
			n := len(*p)
			if v.Type == TypeNotation && (v.TrustPolicyFile != "" || v.TrustStoreDir != "") {
				spec.ncfg = compileNotationConfig(f, v, p)
				spec.ok = len(*p) == n
				break
			}
			spec.roots, spec.nroots = compileTrustRoots(f, v.Type, v.TrustRoots, o, p)
			if v.Type == TypeCosign {
				spec.material = compileMaterial(f, v, p)
			}
			spec.ok = len(*p) == n
		case TypeNotaryV1:
			if v.Approve != nil {
				p.add(f+".approve", "only allowed for a static validator")
			}
			n := len(*p)
			switch {
			case v.Host == "":
				p.add(f+".host", "is required for a notaryv1 validator (the Notary server URL, e.g. https://notary.docker.io)")
			default:
				if err := notaryv1.CheckHost(v.Host); err != nil {
					p.add(f+".host", "%v", err)
				}
			}
			if v.Cert != "" {
				if err := notaryv1.CheckCA([]byte(v.Cert)); err != nil {
					p.add(f+".cert", "%v", err)
				}
			}
			spec.kroots = compileRootKeys(f, v.TrustRoots, p)
			spec.ok = len(*p) == n
			spec.versions = notaryv1.NewVersions()
		case "":
			p.add(f+".type", "is required (%q, %q, %q or %q)", TypeStatic, TypeCosign, TypeNotation, TypeNotaryV1)
		default:
			p.add(f+".type", "unknown validator type %q (want %q, %q, %q or %q)", v.Type, TypeStatic, TypeCosign, TypeNotation, TypeNotaryV1)
		}
		if v.Name != "" && out[v.Name] == nil {
			out[v.Name] = spec
		}
	}
	return out
}

// checkValidatorFields reports validator fields that do not apply to the
// validator's type.
func checkValidatorFields(f string, v Validator, o compileOptions, p *problems) {
	set := func(field string, ok bool, types ...string) {
		if ok && !slices.Contains(types, v.Type) {
			p.add(f+"."+field, "not allowed for a %s validator (only %s)", v.Type, strings.Join(types, ", "))
		}
	}
	set("host", v.Host != "", TypeNotaryV1)
	set("cert", v.Cert != "", TypeNotaryV1)
	set("trustedRoot", v.TrustedRoot != "", TypeCosign)
	set("trustedRootFile", v.TrustedRootFile != "", TypeCosign)
	set("tuf", v.TUF != nil, TypeCosign)
	set("trustPolicyFile", v.TrustPolicyFile != "", TypeNotation)
	set("trustStoreDir", v.TrustStoreDir != "", TypeNotation)
	set("auth", v.Auth != nil, TypeCosign, TypeNotation)
	if v.Auth != nil && v.Type != TypeStatic {
		switch {
		case v.Auth.SecretName == "":
			p.add(f+".auth.secretName", "is required (a Secret in signet's namespace)")
		case len(validation.IsDNS1123Subdomain(v.Auth.SecretName)) > 0:
			p.add(f+".auth.secretName", "%q is not a valid Secret name: %s", v.Auth.SecretName, strings.Join(validation.IsDNS1123Subdomain(v.Auth.SecretName), "; "))
		case o.secrets == nil:
			p.add(f+".auth.secretName", "Secret %q can only be read through the Kubernetes API: use signet serve, or signet verify --kubeconfig", v.Auth.SecretName)
		}
	}
}

func compileRule(i int, r Rule, validators map[string]*validatorSpec, reg Registry, o compileOptions, seen map[string]int, p *problems) *compiledRule {
	f := fmt.Sprintf("rules[%d]", i)
	ok := true
	pat, err := CompilePattern(r.Pattern)
	if err != nil {
		p.add(f+".pattern", "%v", err)
		ok = false
	} else if j, dup := seen[pat.Normalised()]; dup {
		p.add(f+".pattern", "duplicate pattern %q (also rules[%d])", r.Pattern, j)
		ok = false
	} else {
		seen[pat.Normalised()] = i
	}
	if r.With.Mode != "" && !validMode(r.With.Mode) {
		p.add(f+".with.mode", "must be %q, %q or %q, got %q", ModeEnforce, ModeWarn, ModeAudit, r.With.Mode)
		ok = false
	}
	if r.Validator == ValidatorNamespace || slices.Contains(r.Validators, ValidatorNamespace) {
		return compileDelegation(f, i, r, pat, ok, p)
	}
	names, field := []string{r.Validator}, f+".validator"
	switch {
	case r.Validator != "" && len(r.Validators) > 0:
		p.add(f, "validator and validators are exclusive; list them all in validators")
		return nil
	case len(r.Validators) > 0:
		names, field = r.Validators, f+".validators"
	case r.Validator == "":
		names = []string{DefaultName}
	}
	var members []verify.Named
	var specs []Validator
	vtype := ""
	for k, name := range names {
		vf := field
		if len(r.Validators) > 0 {
			vf = fmt.Sprintf("%s[%d]", field, k)
		}
		spec := validators[name]
		switch {
		case spec == nil && r.Validator == "" && len(r.Validators) == 0:
			p.add(vf, "is required (no validator is named %q)", DefaultName)
			return nil
		case spec == nil:
			p.add(vf, "unknown validator %q", name)
			ok = false
			continue
		case slices.Contains(names[:k], name):
			p.add(vf, "duplicate validator %q", name)
			ok = false
			continue
		}
		v := bindValidator(f, r, spec, reg, o, p)
		if v == nil {
			ok = false
			continue
		}
		members = append(members, verify.Named{Name: name, Verifier: v})
		specs = append(specs, spec.v)
		vtype = spec.v.Type
	}
	var types []string
	for _, v := range specs {
		types = append(types, v.Type)
	}
	var reqs []attest.Requirement
	if len(r.With.Attestations) > 0 {
		if ok && len(members) == 1 && vtype == TypeStatic {
			p.add(f+".with.attestations", "validator %q is static: it checks no signature, and attestations need a cosign validator's trust roots", names[0])
			return nil
		}
		var aspecs []Validator
		var aok bool
		reqs, aspecs, aok = compileAttestations(f, r, validators, reg, o, p)
		ok = ok && aok
		specs = append(specs, aspecs...)
	}
	plat, pok := compilePlatforms(f, r.With.Platforms, types, p)
	if !ok || !pok || len(members) != len(names) {
		return nil
	}
	cr := &compiledRule{index: i, pattern: pat, validator: strings.Join(names, "+"), vtype: vtype, verifier: members[0].Verifier, platforms: plat}
	if len(members) > 1 {
		// Several validators must all pass; even all-static lists go
		// through the engine's verification path, which handles them.
		cr.vtype, cr.verifier = "", verify.All(members...)
	}
	if len(reqs) > 0 {
		cr.verifier = attest.NewVerifier(cr.verifier, reqs)
	}
	cr.hash = ruleHash(r, specs)
	cr.keys = ruleKeys(specs, validators)
	cr.where = fmt.Sprintf("rule %q (validator %q)", pat.String(), cr.validator)
	return cr
}

// bindValidator builds the verifier a rule gets from one validator, with
// the rule's options bound. It returns nil after reporting a problem.
func bindValidator(f string, r Rule, spec *validatorSpec, reg Registry, o compileOptions, p *problems) verify.Verifier {
	switch spec.v.Type {
	case TypeStatic, TypeNotation, TypeNotaryV1:
		if r.With.VerifyInTransparencyLog != nil || r.With.VerifySCT != nil {
			p.add(f+".with", "verifyInTransparencyLog and verifySCT apply to cosign validators only (validator %q is %s)", spec.v.Name, spec.v.Type)
			return nil
		}
	}
	if !schemeOptionsApply(f+".with", r.With, spec.v, p) {
		return nil
	}
	if len(r.With.Delegations) > 0 && spec.v.Type != TypeNotaryV1 {
		p.add(f+".with.delegations", "applies to notaryv1 validators only (validator %q is %s)", spec.v.Name, spec.v.Type)
		return nil
	}
	switch spec.v.Type {
	case TypeStatic:
		if r.With.TrustRoot != "" || r.With.Threshold != nil || len(r.With.Required) > 0 || r.With.VerificationLevel != "" || r.With.VerifyTimestamp != "" {
			p.add(f+".with", "trustRoot, threshold, required, verificationLevel and verifyTimestamp do not apply to static validator %q", spec.v.Name)
			return nil
		}
		if spec.v.Approve == nil {
			return nil // reported with the validator
		}
		return static.New(*spec.v.Approve)
	case TypeCosign, TypeNotation:
		ok := true
		if spec.v.Type == TypeCosign && (r.With.VerificationLevel != "" || r.With.VerifyTimestamp != "") {
			p.add(f+".with", "verificationLevel and verifyTimestamp apply to notation validators only (validator %q is cosign)", spec.v.Name)
			ok = false
		}
		opts, nok := notationOptions(f+".with", r.With, p)
		if spec.v.Type == TypeNotation && (spec.v.TrustPolicyFile != "" || spec.v.TrustStoreDir != "") {
			return bindNotationConfig(f, r, spec, reg, opts, ok && nok, o, p)
		}
		q, qok := compileQuorum(f+".with", r.With, spec, p)
		ref, rok := compileReferenceCheck(f+".with", r.With, p)
		if !ok || !qok || !nok || !rok || !spec.ok {
			return nil // the trust roots are already reported
		}
		var v verify.Verifier
		var err error
		if spec.v.Type == TypeCosign {
			v, err = cosign.New(reg, spec.roots, q, cosign.Options{
				Material: spec.material,
				TLog:     r.With.VerifyInTransparencyLog == nil || *r.With.VerifyInTransparencyLog,
				SCT:      r.With.VerifySCT == nil || *r.With.VerifySCT,

				Reference: ref,
			})
		} else {
			v, err = notation.New(reg, spec.nroots, q, opts)
		}
		if err != nil {
			p.add(f, "%v", err)
			return nil
		}
		if a := spec.v.Auth; a != nil && a.SecretName != "" && o.secrets != nil {
			v = withAuth(spec.v.Name, a.SecretName, o.authRegistries[spec.v.Name], o.secrets, v)
		}
		return v
	case TypeNotaryV1:
		return bindNotaryV1(f, r, spec, reg, p)
	}
	return nil // an unknown type is reported with the validator
}

// bindNotaryV1 builds a rule's notaryv1 verifier: quorum, delegations, and
// the Notary server's credentials from the registry keychain.
func bindNotaryV1(f string, r Rule, spec *validatorSpec, reg Registry, p *problems) verify.Verifier {
	ok := true
	if r.With.VerificationLevel != "" || r.With.VerifyTimestamp != "" {
		p.add(f+".with", "verificationLevel and verifyTimestamp apply to notation validators only (validator %q is notaryv1)", spec.v.Name)
		ok = false
	}
	var roles []string
	for k, d := range r.With.Delegations {
		df := fmt.Sprintf("%s.with.delegations[%d]", f, k)
		role, err := notaryv1.DelegationRole(d)
		switch {
		case err != nil:
			p.add(df, "%v", err)
			ok = false
		case slices.Contains(roles, role):
			p.add(df, "duplicate delegation %q", role)
			ok = false
		default:
			roles = append(roles, role)
		}
	}
	q, qok := compileQuorum(f+".with", r.With, spec, p)
	if !ok || !qok || !spec.ok {
		return nil // the validator's problems are already reported
	}
	opts := []notaryv1.Option{notaryv1.WithDelegations(roles...), notaryv1.WithVersions(spec.versions)}
	if spec.v.Cert != "" {
		opts = append(opts, notaryv1.WithCABundle([]byte(spec.v.Cert)))
	}
	if kc, ok := reg.(interface{ Keychain() authn.Keychain }); ok {
		opts = append(opts, notaryv1.WithKeychain(kc.Keychain()))
	}
	v, err := notaryv1.New(spec.v.Host, spec.kroots, q, opts...)
	if err != nil {
		p.add(f, "%v", err)
		return nil
	}
	return v
}

// notationOptions checks verificationLevel and verifyTimestamp.
func notationOptions(f string, w RuleOptions, p *problems) (notation.Options, bool) {
	ok := true
	switch w.VerificationLevel {
	case "", notation.LevelStrict, notation.LevelPermissive, notation.LevelAudit:
	default:
		p.add(f+".verificationLevel", "must be %q, %q or %q, got %q", notation.LevelStrict, notation.LevelPermissive, notation.LevelAudit, w.VerificationLevel)
		ok = false
	}
	switch w.VerifyTimestamp {
	case "", notation.TimestampAlways, notation.TimestampAfterCertExpiry:
	default:
		p.add(f+".verifyTimestamp", "must be %q or %q, got %q", notation.TimestampAlways, notation.TimestampAfterCertExpiry, w.VerifyTimestamp)
		ok = false
	}
	rev := w.RevocationValidations
	switch rev {
	case "", notation.RevocationEnforce, notation.RevocationLog, notation.RevocationSkip:
	default:
		p.add(f+".revocationValidations", "must be %q, %q or %q, got %q", notation.RevocationEnforce, notation.RevocationLog, notation.RevocationSkip, rev)
		ok = false
	}
	if w.VerifyRevocation {
		switch rev {
		case "":
			rev = notation.RevocationEnforce
		case notation.RevocationEnforce:
		default:
			p.add(f+".revocationValidations", "%q contradicts verifyRevocation: true (which means %q); keep one of them", rev, notation.RevocationEnforce)
			ok = false
		}
	}
	if err := notation.CheckOverride(w.VerificationOverride); err != nil {
		p.add(f+".verificationOverride", "%v", err)
		ok = false
	}
	return notation.Options{Level: w.VerificationLevel, VerifyTimestamp: w.VerifyTimestamp, Revocation: rev, Override: w.VerificationOverride}, ok
}

// compileQuorum resolves trustRoot, threshold and required against the
// validator's trust roots.
func compileQuorum(f string, w RuleOptions, spec *validatorSpec, p *problems) (verify.Quorum, bool) {
	var names []string
	for _, tr := range spec.v.TrustRoots {
		names = append(names, tr.Name)
	}
	ok := true
	var q verify.Quorum
	switch {
	case w.TrustRoot == AllTrustRoots:
		q.Roots = names
	case w.TrustRoot != "":
		if !slices.Contains(names, w.TrustRoot) {
			p.add(f+".trustRoot", "validator %q has no trust root %q (has %v)", spec.v.Name, w.TrustRoot, names)
			return q, false
		}
		q.Roots = []string{w.TrustRoot}
	case len(names) == 1:
		q.Roots = names
	case slices.Contains(names, DefaultName):
		q.Roots = []string{DefaultName}
	default:
		p.add(f+".trustRoot", "is required: validator %q has %d trust roots and none is named %q; name one or use \"*\"", spec.v.Name, len(names), DefaultName)
		return q, false
	}
	for k, r := range w.Required {
		switch {
		case !slices.Contains(q.Roots, r):
			p.add(fmt.Sprintf("%s.required[%d]", f, k), "trust root %q is not among the rule's trust roots %v", r, q.Roots)
			ok = false
		case slices.Contains(w.Required[:k], r):
			p.add(fmt.Sprintf("%s.required[%d]", f, k), "duplicate trust root %q", r)
			ok = false
		}
	}
	q.Required = w.Required
	q.Threshold = max(1, len(w.Required))
	if w.Threshold != nil {
		switch t := *w.Threshold; {
		case t < 1:
			p.add(f+".threshold", "must be at least 1, got %d", t)
			ok = false
		case t > len(q.Roots):
			p.add(f+".threshold", "%d exceeds the %d trust root(s) the rule selects", t, len(q.Roots))
			ok = false
		default:
			q.Threshold = max(t, len(w.Required))
		}
	}
	return q, ok
}

// ruleHash identifies a compiled rule's meaning: the rule and its
// validator. Result caches key on it, so that changing either invalidates
// cached decisions.
func ruleHash(r Rule, v []Validator) string {
	b, _ := json.Marshal(struct {
		R Rule
		V []Validator
	}{r, v})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// ruleKeys returns the key sources of the validators named by specs, each
// once.
func ruleKeys(specs []Validator, validators map[string]*validatorSpec) []*keysource.Source {
	var keys []*keysource.Source
	for _, v := range specs {
		spec := validators[v.Name]
		if spec == nil {
			continue
		}
		for _, tr := range spec.roots {
			if src, ok := tr.KeyRef.(*keysource.Source); ok && !slices.Contains(keys, src) {
				keys = append(keys, src)
			}
		}
	}
	return keys
}

// compileNotationConfig reads a notation validator's trustPolicyFile and
// trustStoreDir (used instead of trustRoots).
func compileNotationConfig(f string, v Validator, p *problems) *notation.Config {
	ok := true
	if v.TrustPolicyFile == "" {
		p.add(f+".trustPolicyFile", "is required with trustStoreDir (the path of a notation trustpolicy.json)")
		ok = false
	}
	if v.TrustStoreDir == "" {
		p.add(f+".trustStoreDir", "is required with trustPolicyFile (the path of notation's x509 trust store directory, holding ca/, signingAuthority/ and tsa/)")
		ok = false
	}
	if len(v.TrustRoots) > 0 {
		p.add(f+".trustRoots", "not allowed with trustPolicyFile: the trust policy's trust stores and trusted identities are the trust roots")
		ok = false
	}
	if !ok {
		return nil
	}
	c, err := notation.LoadConfig(v.TrustPolicyFile, v.TrustStoreDir)
	if err != nil {
		p.add(f+".trustPolicyFile", "%v", err)
		return nil
	}
	return c
}

// bindNotationConfig builds a rule's verifier over a notation validator's
// trust policy file: the file says everything but revocation, which stays
// the rule's.
func bindNotationConfig(f string, r Rule, spec *validatorSpec, reg Registry, opts notation.Options, ok bool, o compileOptions, p *problems) verify.Verifier {
	w := r.With
	if w.TrustRoot != "" || w.Threshold != nil || len(w.Required) > 0 {
		p.add(f+".with", "trustRoot, threshold and required do not apply to validator %q: its trust policy file selects the statement for each image", spec.v.Name)
		ok = false
	}
	if w.VerificationLevel != "" || w.VerifyTimestamp != "" || len(w.VerificationOverride) > 0 {
		p.add(f+".with", "verificationLevel, verifyTimestamp and verificationOverride do not apply to validator %q: its trust policy file says them", spec.v.Name)
		ok = false
	}
	if !ok || !spec.ok || spec.ncfg == nil {
		return nil // the validator's problems are already reported
	}
	v, err := notation.NewFromConfig(reg, spec.ncfg, notation.Options{Revocation: opts.Revocation})
	if err != nil {
		p.add(f+".with", "%v", err)
		return nil
	}
	if a := spec.v.Auth; a != nil && a.SecretName != "" && o.secrets != nil {
		return withAuth(spec.v.Name, a.SecretName, o.authRegistries[spec.v.Name], o.secrets, v)
	}
	return v
}

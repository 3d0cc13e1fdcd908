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

	"github.com/google/go-containerregistry/pkg/name"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
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
	var p problems
	if doc == nil {
		p.add("", "policy is empty")
		return nil, p.err()
	}
	if doc.APIVersion != APIVersion {
		p.add("apiVersion", "must be %q, got %q", APIVersion, doc.APIVersion)
	}
	if doc.Kind != Kind {
		p.add("kind", "must be %q, got %q", Kind, doc.Kind)
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
	validators := compileValidators(doc.Validators, o, &p)
	if len(doc.Rules) == 0 {
		p.add("rules", "at least one rule is required (an image no rule matches is denied)")
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
	if err := p.err(); err != nil {
		return nil, err
	}
	sort.SliceStable(rules, func(a, b int) bool { return rules[a].pattern.moreSpecific(rules[b].pattern) })
	return &Engine{name: doc.Metadata.Name, rules: rules, reg: reg, mode: mode, pinning: pinning}, nil
}

// validatorSpec is a checked validator, ready to be bound to rules.
type validatorSpec struct {
	v     Validator
	index int
	// roots and nroots hold the parsed trust roots of cosign and notation
	// validators; ok is false when any of them failed to parse.
	roots  []cosign.TrustRoot
	nroots []notation.TrustRoot
	ok     bool
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
			spec.roots, spec.nroots = compileTrustRoots(f, v.Type, v.TrustRoots, p)
			spec.ok = len(*p) == n
		case "":
			p.add(f+".type", "is required (%q, %q or %q)", TypeStatic, TypeCosign, TypeNotation)
		default:
			p.add(f+".type", "unknown validator type %q (want %q, %q or %q)", v.Type, TypeStatic, TypeCosign, TypeNotation)
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

func compileTrustRoots(f, typ string, trs []TrustRoot, p *problems) ([]cosign.TrustRoot, []notation.TrustRoot) {
	if len(trs) == 0 {
		p.add(f+".trustRoots", "at least one trust root is required")
		return nil, nil
	}
	seen := map[string]int{}
	var keys []cosign.TrustRoot
	var cas []notation.TrustRoot
	for j, tr := range trs {
		tf := fmt.Sprintf("%s.trustRoots[%d]", f, j)
		switch k, dup := seen[tr.Name]; {
		case tr.Name == "":
			p.add(tf+".name", "is required")
		case tr.Name == AllTrustRoots || !nameRE.MatchString(tr.Name):
			p.add(tf+".name", "%q is not a valid name (letters, digits, '.', '_', '-'; at most 64)", tr.Name)
		case dup:
			p.add(tf+".name", "duplicate trust root name %q (also %s.trustRoots[%d])", tr.Name, f, k)
		}
		seen[tr.Name] = j
		if typ == TypeNotation {
			if tr.Key != "" {
				p.add(tf+".key", "not allowed for a notation validator (use cert)")
			}
			if r, ok := compileCA(tf, tr, p); ok {
				cas = append(cas, r)
			}
			continue
		}
		if tr.Keyless != nil {
			p.add(tf+".keyless", "is not supported yet")
			continue
		}
		if tr.Cert != "" || tr.TSCert != "" {
			p.add(tf, "cert and tsCert are for notation validators; a cosign trust root has a key")
		}
		if tr.Key == "" {
			p.add(tf+".key", "is required (an inline PEM public key)")
			continue
		}
		key, err := cosign.ParsePublicKey([]byte(tr.Key))
		if err != nil {
			p.add(tf+".key", "%v", err)
			continue
		}
		keys = append(keys, cosign.TrustRoot{Name: tr.Name, Key: key})
	}
	return keys, cas
}

// compileCA parses a notation trust root's certificates.
func compileCA(tf string, tr TrustRoot, p *problems) (notation.TrustRoot, bool) {
	r := notation.TrustRoot{Name: tr.Name}
	if tr.Cert == "" {
		p.add(tf+".cert", "is required (PEM CA certificates)")
		return r, false
	}
	var err error
	if r.CAs, err = notation.ParseCertificates([]byte(tr.Cert)); err != nil {
		p.add(tf+".cert", "%v", err)
		return r, false
	}
	if tr.TSCert != "" {
		if r.TSAs, err = notation.ParseCertificates([]byte(tr.TSCert)); err != nil {
			p.add(tf+".tsCert", "%v", err)
			return r, false
		}
	}
	return r, true
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
	if !ok || len(members) != len(names) {
		return nil
	}
	cr := &compiledRule{index: i, pattern: pat, validator: strings.Join(names, "+"), vtype: vtype, verifier: members[0].Verifier}
	if len(members) > 1 {
		// Several validators must all pass; even all-static lists go
		// through the engine's verification path, which handles them.
		cr.vtype, cr.verifier = "", verify.All(members...)
	}
	cr.hash = ruleHash(r, specs)
	return cr
}

// bindValidator builds the verifier a rule gets from one validator, with
// the rule's options bound. It returns nil after reporting a problem.
func bindValidator(f string, r Rule, spec *validatorSpec, reg Registry, o compileOptions, p *problems) verify.Verifier {
	switch spec.v.Type {
	case TypeStatic, TypeCosign, TypeNotation:
		if r.With.VerifyInTransparencyLog != nil || r.With.VerifySCT != nil || len(r.With.Delegations) > 0 {
			p.add(f+".with", "verifyInTransparencyLog, verifySCT and delegations are not supported yet")
			return nil
		}
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
		q, qok := compileQuorum(f+".with", r.With, spec, p)
		if !ok || !qok || !nok || !spec.ok {
			return nil // the trust roots are already reported
		}
		var v verify.Verifier
		var err error
		if spec.v.Type == TypeCosign {
			v, err = cosign.New(reg, spec.roots, q)
		} else {
			v, err = notation.New(reg, spec.nroots, q, opts)
		}
		if err != nil {
			p.add(f, "%v", err)
			return nil
		}
		if a := spec.v.Auth; a != nil && a.SecretName != "" && o.secrets != nil {
			v = withAuth(spec.v.Name, a.SecretName, o.secrets, v)
		}
		return v
	}
	return nil // an unknown type is reported with the validator
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
	return notation.Options{Level: w.VerificationLevel, VerifyTimestamp: w.VerifyTimestamp}, ok
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

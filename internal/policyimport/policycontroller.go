package policyimport

import (
	"fmt"
	"slices"
	"strings"

	"github.com/signet-dev/signet/internal/policy"
)

func init() { register("policy-controller", convertPolicyController) }

// pcSystemNamespace is where policy-controller reads the Secrets its
// authorities name (secretRef): its own namespace, cosign-system unless
// installed elsewhere.
const pcSystemNamespace = "cosign-system"

// pcPolicy is one ClusterImagePolicy, converted.
type pcPolicy struct {
	name string
	src  string
	// validator is the signet validator every authority of the policy
	// became (any one authority suffices: its trust roots, threshold 1).
	validator string
	// static is "pass" or "fail" when the policy decides without
	// signatures.
	static   string
	patterns []string
	compiled []*policy.Pattern
	warn     bool
	// keyless counts the keyless authorities, ignoreSCT those of them
	// with insecureIgnoreSCT.
	keyless, ignoreSCT int
	with               policy.RuleOptions
}

type policyController struct {
	notes
	doc        policy.Document
	validators *names
	policies   []*pcPolicy
	// found counts the ClusterImagePolicies read, converted or not.
	found   int
	tagNote bool
}

// convertPolicyController converts Sigstore policy-controller
// ClusterImagePolicy objects (policy.sigstore.dev/v1beta1 and v1alpha1),
// any number, in any number of files and YAML documents (List objects
// too), into one signet policy.
//
// In policy-controller, every ClusterImagePolicy whose images match must
// pass, and a policy passes when any one of its authorities does. Each
// policy becomes a validator whose trust roots are its authorities' keys
// and identities, used with trustRoot "*" and threshold 1 (any one); each
// distinct pattern becomes a rule naming, in validators (all must pass),
// every policy whose images cover it.
func convertPolicyController(in []Input) (*policy.Document, []Note, error) {
	docs, err := decodeAll(in)
	if err != nil {
		return nil, nil, err
	}
	c := &policyController{validators: newNames(importDeny, "pass", "fail")}
	c.doc.Metadata.Name = "imported-from-policy-controller"
	for _, d := range docs {
		c.object(d, 0)
	}
	switch {
	case c.found == 0:
		return nil, nil, fmt.Errorf("%s: no ClusterImagePolicy (policy.sigstore.dev) found", in[0].Name)
	case len(c.policies) == 0:
		c.add("rules", "", "no ClusterImagePolicy converted: every image is denied")
		c.doc.Validators = []policy.Validator{{Name: importDeny, Type: policy.TypeStatic, Approve: new(false)}}
		c.doc.Rules = []policy.Rule{{Pattern: "**", Validator: importDeny}}
		return &c.doc, c.notes, nil
	}
	if err := c.rules(); err != nil {
		return nil, nil, err
	}
	authRegistries(&c.doc, &c.notes)
	repair(&c.doc, &c.notes)
	c.add("", "", "images no ClusterImagePolicy matches are denied, as with policy-controller's no-match-policy deny (the default); if yours was allow or warn, add a rule for \"**\" with a static allow validator. Namespaces are checked whether or not they carry policy-controller's opt-in label policy.sigstore.dev/include")
	return &c.doc, c.notes, nil
}

// object reads one YAML document: a ClusterImagePolicy, or a List of
// them.
func (c *policyController) object(d node, depth int) {
	kind, api := d.get("kind").str(), d.get("apiVersion").str()
	switch {
	case kind == "List" || strings.HasSuffix(kind, "List"):
		items, cut := d.get("items").list()
		c.truncated(cut, "", d.get("items"))
		if depth > 0 {
			return
		}
		for _, it := range items {
			c.object(it, depth+1)
		}
	case kind == "ClusterImagePolicy" && strings.HasPrefix(api, "policy.sigstore.dev/"):
		c.found++
		if len(c.policies) == maxItems {
			c.add("", d.src, "more than %d ClusterImagePolicies: not converted", maxItems)
			return
		}
		if api != "policy.sigstore.dev/v1beta1" && api != "policy.sigstore.dev/v1alpha1" {
			c.add("", d.src, "apiVersion %q is read as v1beta1", api)
		}
		c.clusterImagePolicy(d)
	default:
		c.add("", d.src, "%s %s is not a ClusterImagePolicy: skipped", api, kind)
	}
}

func (c *policyController) clusterImagePolicy(d node) {
	meta := d.get("metadata")
	orig := meta.get("name").str()
	if orig == "" {
		orig = fmt.Sprintf("policy-%d", len(c.policies)+1)
	}
	src := d.src + " (" + orig + ")"
	p := &pcPolicy{name: orig, src: src}
	c.unknown(d, "", "apiVersion", "kind", "metadata", "spec", "status")
	spec := d.get("spec")
	c.unknown(spec, "", "images", "authorities", "mode", "policy", "match")
	switch m := spec.get("mode").str(); m {
	case "", "enforce":
	case "warn":
		p.warn = true
	default:
		c.add("", spec.get("mode").src, "mode %q is read as enforce", m)
	}
	if spec.has("policy") {
		c.add("", spec.get("policy").src, "not converted: the policy over the authorities' results (%s); signet checks signatures and attestations, with CEL conditions on attestations: rewrite it as conditions", spec.get("policy").get("type").str())
	}
	if spec.has("match") {
		c.add("", spec.get("match").src, "not converted: match (resource kinds and labels); signet checks the images of every workload kind")
	}
	images, cut := spec.get("images").list()
	c.truncated(cut, "", spec.get("images"))
	for _, im := range images {
		c.unknown(im, "", "glob", "regex")
		if im.has("regex") {
			c.add("", im.get("regex").src, "not converted: a regular expression; write a glob")
		}
		glob := im.get("glob").str()
		if glob == "" {
			continue
		}
		pats, diff, err := pcPatterns(glob)
		for _, pat := range pats {
			if err == nil {
				_, err = policy.CompilePattern(pat)
			}
		}
		if err != nil {
			c.add("", im.src, "glob %q is not converted: %v", glob, err)
			continue
		}
		switch diff {
		case pcFallback:
			c.add("", im.src, "glob %q: policy-controller matched it only against an image written exactly so, without registry, tag or digest; %q in signet matches every tag and digest of the repository", glob, pats[0])
		case pcLoose:
			c.add("", im.src, "glob %q: in policy-controller a \"*\" before a literal could also take in the tag; %q in signet matches repository names only there", glob, pats[0])
		case pcTag:
			c.tagNote = true
		}
		for _, pat := range pats {
			if !slices.Contains(p.patterns, pat) {
				cp, _ := policy.CompilePattern(pat)
				p.patterns, p.compiled = append(p.patterns, pat), append(p.compiled, cp)
			}
		}
	}
	if len(p.patterns) == 0 {
		c.add("", src, "no image glob converted: the policy is not converted")
		return
	}
	c.authorities(p, spec.get("authorities"))
	c.policies = append(c.policies, p)
}

// authorities converts a policy's authorities into its validator: any one
// authority suffices.
func (c *policyController) authorities(p *pcPolicy, list node) {
	items, cut := list.list()
	c.truncated(cut, "", list)
	name, _ := c.validators.name(p.name)
	v := policy.Validator{Name: name, Type: policy.TypeCosign}
	roots := newNames(policy.AllTrustRoots)
	fail, pass := 0, false
	var atts []policy.Attestation
	for i, a := range items {
		c.unknown(a, "", "name", "key", "keyless", "static", "ctlog", "rfc3161timestamp", "source", "attestations")
		aname := a.get("name").str()
		if aname == "" {
			aname = fmt.Sprintf("authority-%d", i)
		}
		if s := a.get("static"); s.v != nil {
			switch act := s.get("action").str(); act {
			case "pass":
				pass = true
			case "fail":
				fail++
			default:
				c.add("", s.src, "static action %q is read as fail", act)
				fail++
			}
			continue
		}
		before := len(v.TrustRoots)
		if k := a.get("key"); k.v != nil {
			c.key(&v, roots, aname, k)
		}
		if k := a.get("keyless"); k.v != nil {
			c.keyless(p, &v, roots, aname, k)
		}
		if len(v.TrustRoots) == before {
			c.add("", a.src, "authority %q has no key or identity signet can use: not converted", aname)
			continue
		}
		c.authorityOptions(p, &v, a)
		atts = append(atts, c.attestations(p, a, v.TrustRoots[before:], name)...)
	}
	switch {
	case pass:
		if len(items) > 1 {
			c.add("", list.src, "a static pass authority makes the policy pass whatever its other authorities say: converted to allow")
		}
		p.static, p.validator = "pass", "pass"
		return
	case len(v.TrustRoots) == 0:
		if fail == 0 {
			c.add("", list.src, "no authority converted: the policy denies")
		}
		p.static, p.validator = "fail", "fail"
		return
	}
	if len(atts) > 0 && len(items) > 1 {
		c.add("", list.src, "attestations belong to one authority in policy-controller; in signet every listed attestation is required whichever trust root signed the image (stricter)")
	}
	switch {
	case p.ignoreSCT > 0 && p.ignoreSCT == p.keyless:
		p.with.VerifySCT = new(false)
	case p.ignoreSCT > 0:
		c.add("", list.src, "insecureIgnoreSCT is not applied: the policy's other keyless authorities require an SCT, and signet's verifySCT is one for the rule (stricter)")
	}
	p.with.Attestations = atts
	if len(v.TrustRoots) > 1 {
		p.with.TrustRoot = policy.AllTrustRoots
		p.with.Threshold = new(1)
	}
	p.validator = name
	c.doc.Validators = append(c.doc.Validators, v)
}

func (c *policyController) key(v *policy.Validator, roots *names, aname string, k node) {
	c.unknown(k, "", "data", "kms", "secretRef", "hashAlgorithm")
	tr := policy.TrustRoot{}
	switch {
	case k.get("data").str() != "":
		tr.Key = k.get("data").str()
	case k.get("kms").str() != "":
		tr.Key = k.get("kms").str()
	case k.get("secretRef").get("name").str() != "":
		s := k.get("secretRef").get("name").str()
		tr.Key = "k8s://" + pcSystemNamespace + "/" + s
		c.add("", k.get("secretRef").src, "the Secret %q is read as %s: policy-controller reads it from its own namespace (%s by default); signet needs RBAC get on it", s, tr.Key, pcSystemNamespace)
	default:
		c.add("", k.src, "a key without data, kms or secretRef: not converted")
		return
	}
	if h := k.get("hashAlgorithm").str(); h != "" && !strings.EqualFold(h, "sha256") {
		c.add("", k.get("hashAlgorithm").src, "hashAlgorithm %s: signet checks signatures over SHA-256 only, so such signatures fail", h)
	}
	tr.Name, _ = roots.name(aname)
	v.TrustRoots = append(v.TrustRoots, tr)
}

func (c *policyController) keyless(p *pcPolicy, v *policy.Validator, roots *names, aname string, k node) {
	c.unknown(k, "", "url", "identities", "ca-cert", "trustRootRef", "insecureIgnoreSCT")
	if u := k.get("url").str(); u != "" && strings.TrimSuffix(strings.TrimPrefix(u, "https://"), "/") != "fulcio.sigstore.dev" {
		c.add("", k.get("url").src, "a private Fulcio (%s): give signet the instance's trusted_root.json in trustedRoot or trustedRootFile instead of tuf", u)
	}
	for _, f := range []string{"ca-cert", "trustRootRef"} {
		if k.has(f) {
			c.add("", k.get(f).src, "not converted: %s; give signet the instance's trusted_root.json in trustedRoot or trustedRootFile instead of tuf", f)
		}
	}
	p.keyless++
	if b, _ := k.get("insecureIgnoreSCT").boolean(); b {
		p.ignoreSCT++
	}
	ids, cut := k.get("identities").list()
	c.truncated(cut, "", k.get("identities"))
	if len(ids) == 0 {
		c.add("", k.src, "keyless without identities: not converted (any identity would do; signet requires one)")
		return
	}
	for j, id := range ids {
		c.unknown(id, "", "issuer", "subject", "issuerRegExp", "subjectRegExp")
		kl := &policy.Keyless{
			Issuer: id.get("issuer").str(), IssuerRegex: id.get("issuerRegExp").str(),
			Subject: id.get("subject").str(), SubjectRegex: id.get("subjectRegExp").str(),
		}
		if (kl.Issuer == "" && kl.IssuerRegex == "") || (kl.Subject == "" && kl.SubjectRegex == "") {
			c.add("", id.src, "an identity needs an issuer and a subject (exact or regular expression): not converted")
			continue
		}
		n := aname
		if len(ids) > 1 {
			n = fmt.Sprintf("%s-%d", aname, j)
		}
		name, _ := roots.name(n)
		v.TrustRoots = append(v.TrustRoots, policy.TrustRoot{Name: name, Keyless: kl})
		v.TUF = &policy.TUF{}
	}
}

// authorityOptions converts an authority's ctlog, timestamps and source.
func (c *policyController) authorityOptions(p *pcPolicy, v *policy.Validator, a node) {
	if l := a.get("ctlog"); l.v != nil {
		c.unknown(l, "", "url", "trustRootRef")
		if u := l.get("url").str(); u != "" && strings.TrimSuffix(strings.TrimPrefix(u, "https://"), "/") != "rekor.sigstore.dev" {
			c.add("", l.src, "a private Rekor (%s): give signet the instance's trusted_root.json in trustedRoot or trustedRootFile", u)
		}
		if l.has("trustRootRef") {
			c.add("", l.get("trustRootRef").src, "not converted: trustRootRef; give signet the instance's trusted_root.json in trustedRoot or trustedRootFile")
		}
		if a.has("key") {
			c.add("", l.src, "signet verifies key signatures by the key alone: the Rekor check of this key authority is not carried over")
		}
	}
	if t := a.get("rfc3161timestamp"); t.v != nil {
		c.add("", t.src, "not converted: rfc3161timestamp; signet accepts timestamps from the TSAs of the validator's trusted root (trustedRoot for a private TSA)")
	}
	srcs, _ := a.get("source").list()
	for _, s := range srcs {
		c.unknown(s, "", "oci", "signaturePullSecrets", "tagPrefix")
		if s.has("oci") || s.has("tagPrefix") {
			c.add("", s.src, "not converted: signatures stored in another repository (source.oci); signet reads them from the image's own repository")
		}
		secrets, _ := s.get("signaturePullSecrets").list()
		for _, sec := range secrets {
			name := sec.get("name").str()
			switch {
			case name == "":
			case v.Auth == nil:
				v.Auth = &policy.Auth{SecretName: name}
			case v.Auth.SecretName != name:
				c.add("", sec.src, "only one Secret per validator: %q is not converted", name)
			}
		}
	}
}

// attestations converts an authority's attestations; their CUE or Rego
// policies become a condition that fails until rewritten in CEL.
func (c *policyController) attestations(p *pcPolicy, a node, roots []policy.TrustRoot, validator string) []policy.Attestation {
	list, _ := a.get("attestations").list()
	var out []policy.Attestation
	for i, at := range list {
		c.unknown(at, "", "name", "predicateType", "policy")
		typ := at.get("predicateType").str()
		if typ == "" {
			c.add("", at.src, "an attestation without predicateType: not converted")
			continue
		}
		n := at.get("name").str()
		if n == "" || !nameRE.MatchString(n) {
			n = fmt.Sprintf("attestation-%d", i)
		}
		att := policy.Attestation{Name: n, Type: typ, Validator: validator}
		if len(roots) == 1 {
			att.TrustRoot = roots[0].Name
		} else {
			att.TrustRoot, att.Threshold = policy.AllTrustRoots, new(1)
			c.add("", at.src, "attestation %q may be signed by any of the policy's trust roots in signet; in policy-controller, by this authority's identities only", n)
		}
		if pol := at.get("policy"); pol.v != nil {
			c.add("", pol.src, "not converted: the %s policy of attestation %q; signet evaluates CEL conditions: until it is rewritten as conditions, the placeholder condition false denies", pol.get("type").str(), n)
			att.Conditions = []policy.Condition{{Expression: "false", Message: fmt.Sprintf("the %s policy of ClusterImagePolicy %s is not converted yet", pol.get("type").str(), p.name)}}
		}
		out = append(out, att)
	}
	return out
}

// rules makes one rule per distinct pattern, naming every policy whose
// images cover it: in policy-controller each matching policy must pass.
func (c *policyController) rules() error {
	var static []string
	for _, p := range c.policies {
		if p.static != "" && !slices.Contains(static, p.static) {
			static = append(static, p.static)
		}
	}
	for _, s := range static {
		c.doc.Validators = append(c.doc.Validators, policy.Validator{Name: s, Type: policy.TypeStatic, Approve: new(s == "pass")})
	}
	type entry struct {
		pattern string
		norm    string
	}
	var pats []entry
	seen := map[string]bool{}
	for _, p := range c.policies {
		for _, s := range p.patterns {
			cp, _ := policy.CompilePattern(s)
			if !seen[cp.Normalised()] {
				seen[cp.Normalised()] = true
				pats = append(pats, entry{s, cp.Normalised()})
			}
		}
	}
	// Each distinct pattern is compared with every policy's patterns, in
	// time proportional to the product of their lengths.
	total, distinct := 0, 0
	for _, p := range c.policies {
		for _, q := range p.patterns {
			total += len(q) + 1
		}
	}
	for _, e := range pats {
		distinct += len(e.pattern) + 1
	}
	if distinct*total > maxCombine {
		return fmt.Errorf("%d distinct globs in %d ClusterImagePolicies: more than signet import combines (%d character pairs at most)", len(pats), len(c.policies), maxCombine)
	}
	for _, e := range pats {
		cp, _ := policy.CompilePattern(e.pattern)
		var applies []*pcPolicy
		partial := false
		for _, p := range c.policies {
			own := slices.ContainsFunc(p.compiled, func(q *policy.Pattern) bool { return q.Normalised() == e.norm })
			if own {
				applies = append(applies, p)
				continue
			}
			// A policy is required here when one of its patterns can match
			// an image this pattern matches and this rule, the more
			// specific, governs that image (the overlap is exact, so no
			// image escapes a policy that matches it); where the policy's
			// pattern is the more specific, its own rule governs.
			some := slices.ContainsFunc(p.compiled, func(q *policy.Pattern) bool { return cp.MoreSpecific(q) && overlap(q, cp) })
			if some {
				applies = append(applies, p)
				partial = partial || !slices.ContainsFunc(p.compiled, func(q *policy.Pattern) bool { return contains(q, cp) })
			}
		}
		c.rule(e.pattern, applies, partial)
	}
	if c.tagNote {
		c.add("rules", "", "a tag pattern applies in signet when the tag names the digest that runs, never to a reference by digest alone; policy-controller matched the tag as written (after its own tag resolution, digests only)")
	}
	return nil
}

// maxCombine bounds the work of combining policies, in pairs of pattern
// characters compared. An input beyond it is refused rather than combined
// loosely.
const maxCombine = 400_000_000

// rule adds the rule for pattern: every applying policy's validator must
// pass.
func (c *policyController) rule(pattern string, applies []*pcPolicy, partial bool) {
	path := fmt.Sprintf("rules.%d", len(c.doc.Rules))
	r := policy.Rule{Pattern: pattern}
	var vs, names []string
	warn, enforce := false, false
	for _, p := range applies {
		names = append(names, p.name)
		if p.static == "pass" {
			continue // never fails: its mode does not matter
		}
		if p.warn {
			warn = true
		} else {
			enforce = true
		}
		if !slices.Contains(vs, p.validator) {
			vs = append(vs, p.validator)
		}
	}
	if slices.Contains(vs, "fail") {
		vs = []string{"fail"}
	}
	switch {
	case len(vs) == 0:
		r.Validator = "pass"
	case len(vs) == 1:
		r.Validator = vs[0]
	default:
		r.Validators = vs
	}
	for _, p := range applies {
		if p.static != "" || !slices.Contains(vs, p.validator) {
			continue
		}
		c.merge(&r.With, p.with, path, len(vs) > 1)
	}
	listed := fmt.Sprint(names)
	if len(names) > 5 {
		listed = fmt.Sprintf("%v and %d more", names[:5], len(names)-5)
	}
	if warn && !enforce {
		r.With.Mode = policy.ModeWarn
	} else if warn {
		c.add(path, "", "ClusterImagePolicies %s apply here, some in warn mode: signet enforces them all (a rule has one mode)", listed)
	}
	if len(applies) > 1 {
		c.add(path, "", "ClusterImagePolicies %s all match these images: each must pass, as in policy-controller", listed)
	}
	if partial {
		c.add(path, "", "some of ClusterImagePolicies %s match only part of these images: here they are required for all of them (stricter than policy-controller)", listed)
	}
	c.doc.Rules = append(c.doc.Rules, r)
}

// merge adds a policy's rule options to a rule's; several validators
// share one with, so differences resolve to the stricter.
func (c *policyController) merge(w *policy.RuleOptions, o policy.RuleOptions, path string, shared bool) {
	if !shared {
		atts := w.Attestations
		*w = o
		w.Attestations = atts
		for _, a := range o.Attestations {
			a.Name = freeName(w.Attestations, a.Name, a.Validator)
			w.Attestations = append(w.Attestations, a)
		}
		return
	}
	if o.VerifySCT != nil && !*o.VerifySCT {
		c.add(path, "", "insecureIgnoreSCT of one policy is not applied: the rule's validators share one verifySCT")
	}
	if o.TrustRoot != "" {
		w.TrustRoot, w.Threshold = o.TrustRoot, o.Threshold
	}
	for _, a := range o.Attestations {
		a.Name = freeName(w.Attestations, a.Name, a.Validator)
		w.Attestations = append(w.Attestations, a)
	}
}

// freeName returns name, or another name for an attestation no entry of
// atts has.
func freeName(atts []policy.Attestation, name, validator string) string {
	taken := func(n string) bool {
		return slices.ContainsFunc(atts, func(b policy.Attestation) bool { return b.Name == n })
	}
	if !taken(name) {
		return name
	}
	if n := validator + "-" + name; len(n) <= 64 && !taken(n) {
		return n
	}
	for i := len(atts); ; i++ {
		if n := fmt.Sprintf("attestation-%d", i); !taken(n) {
			return n
		}
	}
}

package policyimport

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/signet-dev/signet/internal/policy"
)

func init() { register("connaisseur", convertConnaisseur) }

// importDeny is the static deny validator a converter adds for rules whose
// original cannot be converted into anything that would ever allow: an
// unknown validator type, a trust root that does not exist.
const importDeny = "import-deny"

// connaisseur converts Connaisseur's Helm values: the validators and
// policy of application (Connaisseur 3), or at the top level (older
// charts). Several files are merged as Helm merges -f files: later ones
// win, maps merged key by key, lists replaced.
type connaisseur struct {
	notes
	doc        policy.Document
	validators *names
	// roots maps a validator's original name to its trust roots' names.
	roots map[string]*names
	// types maps a validator's signet name to its signet type.
	types map[string]string
	// nroots counts a validator's trust roots, by its signet name.
	nroots map[string]int
	denied bool
}

func convertConnaisseur(in []Input) (*policy.Document, []Note, error) {
	docs, err := decodeAll(in)
	if err != nil {
		return nil, nil, err
	}
	var values map[string]any
	for _, d := range docs {
		m := d.mapping()
		if m == nil {
			return nil, nil, fmt.Errorf("%s: not a YAML mapping (Helm values)", d.src)
		}
		values = mergeValues(values, m)
	}
	src := in[0].Name
	if len(in) > 1 {
		src = "values"
	}
	root := node{v: values, src: src, top: true}
	app := root.get("application")
	layout := "application"
	if !app.has("validators") && !app.has("policy") {
		app, layout = root, "top-level"
	}
	if !app.has("validators") && !app.has("policy") {
		return nil, nil, fmt.Errorf("%s: no application.validators or application.policy: not Connaisseur Helm values", src)
	}
	c := &connaisseur{
		validators: newNames(importDeny),
		roots:      map[string]*names{},
		types:      map[string]string{},
		nroots:     map[string]int{},
	}
	c.doc.Metadata.Name = "imported-from-connaisseur"
	c.validatorsOf(app.get("validators"))
	c.rules(app.get("policy"))
	c.settings(root, app, layout)
	authRegistries(&c.doc, &c.notes)
	if len(c.doc.Rules) == 0 {
		c.add("rules", app.get("policy").src, "no rule converted: every image is denied")
		c.denyValidator()
		c.doc.Rules = []policy.Rule{{Pattern: "**", Validator: importDeny}}
	}
	if len(c.doc.Validators) == 0 {
		c.denyValidator()
	}
	repair(&c.doc, &c.notes)
	return &c.doc, c.notes, nil
}

// mergeValues merges b into a as Helm merges values files.
func mergeValues(a, b map[string]any) map[string]any {
	if a == nil {
		a = map[string]any{}
	}
	for k, v := range b {
		if bm, ok := v.(map[string]any); ok {
			if am, ok := a[k].(map[string]any); ok {
				a[k] = mergeValues(maps.Clone(am), bm)
				continue
			}
		}
		a[k] = v
	}
	return a
}

// denyValidator adds the static deny validator once.
func (c *connaisseur) denyValidator() {
	if !c.denied {
		c.denied = true
		c.doc.Validators = append(c.doc.Validators, policy.Validator{Name: importDeny, Type: policy.TypeStatic, Approve: new(false)})
		c.types[importDeny] = policy.TypeStatic
	}
}

func (c *connaisseur) validatorsOf(list node) {
	items, cut := list.list()
	c.truncated(cut, "validators", list)
	for _, it := range items {
		c.validator(it)
	}
}

func (c *connaisseur) validator(n node) {
	orig := n.get("name").str()
	if orig == "" {
		c.add("", n.src, "a validator without a name is not converted")
		return
	}
	name, renamed := c.validators.name(orig)
	i := len(c.doc.Validators)
	path := fmt.Sprintf("validators.%d", i)
	if renamed {
		c.add(path+".name", n.src, "validator %q is named %q in signet (letters, digits, '.', '_', '-'; at most 64)", orig, name)
	}
	v := policy.Validator{Name: name}
	typ := n.get("type").str()
	known := []string{"name", "type"}
	switch typ {
	case "static":
		known = append(known, "approve")
		v.Type = policy.TypeStatic
		b, ok := n.get("approve").boolean()
		if !ok {
			c.add(path+".approve", n.src, "a static validator without approve: true or false is converted to deny")
		}
		v.Approve = new(b)
	case "cosign", "sigstore":
		known = append(known, "trustRoots", "auth", "host", "cert")
		v.Type = policy.TypeCosign
		c.cosignHost(n.get("host"), path)
		if n.has("cert") {
			c.add(path, n.get("cert").src, "not converted: the registry's TLS CA certificate; signet uses the system roots (mount the CA into signet's trust store)")
		}
	case "notaryv1":
		known = append(known, "trustRoots", "auth", "host", "cert", "isAcr")
		v.Type = policy.TypeNotaryV1
		v.Host = n.get("host").str()
		if v.Host == "" {
			v.Host = "notary.docker.io" // Connaisseur's default
		}
		if !strings.Contains(v.Host, "://") {
			v.Host = "https://" + v.Host
		}
		v.Cert = n.get("cert").str()
		if b, _ := n.get("isAcr").boolean(); b {
			c.add(path, n.get("isAcr").src, "not converted: isAcr (Azure Container Registry's Notary); signet reads Notary v1 trust data from host as Docker's Notary server serves it")
		}
	case "notaryv2", "notation":
		known = append(known, "trustRoots", "auth", "cert")
		v.Type = policy.TypeNotation
		if n.has("cert") {
			c.add(path, n.get("cert").src, "not converted: the registry's TLS CA certificate; signet uses the system roots")
		}
	default:
		c.add(path, n.src, "validator type %q is not converted: the validator denies every image", typ)
		v.Type, v.Approve = policy.TypeStatic, new(false)
		c.doc.Validators = append(c.doc.Validators, v)
		c.types[name] = v.Type
		return
	}
	c.unknown(n, path, known...)
	v.TrustRoots = c.trustRoots(n.get("trustRoots"), path, orig, v.Type)
	if v.Type == policy.TypeCosign && slices.ContainsFunc(v.TrustRoots, func(tr policy.TrustRoot) bool { return tr.Keyless != nil }) {
		v.TUF = &policy.TUF{}
	}
	if v.Type == policy.TypeCosign && slices.ContainsFunc(v.TrustRoots, func(tr policy.TrustRoot) bool { return tr.Key != "" }) {
		c.add(path, n.src, "Connaisseur also required a Rekor entry for key signatures (verifyInTransparencyLog, true unless a rule says false); signet verifies key signatures by the key alone")
	}
	if v.Type != policy.TypeStatic && len(v.TrustRoots) == 0 {
		c.add(path, n.src, "a %s validator without trust roots is converted to deny", typ)
		v = policy.Validator{Name: name, Type: policy.TypeStatic, Approve: new(false)}
	}
	switch v.Type {
	case policy.TypeCosign, policy.TypeNotation:
		v.Auth = c.authOf(n.get("auth"), path)
	case policy.TypeNotaryV1:
		if n.has("auth") {
			c.add(path, n.get("auth").src, "not converted: auth; signet reads a Notary server's credentials from the Docker config file, as for registries (docs/policy.md, type: notaryv1)")
		}
	}
	c.doc.Validators = append(c.doc.Validators, v)
	c.types[name] = v.Type
	c.nroots[name] = len(v.TrustRoots)
}

// cosignHost notes a cosign validator's own Sigstore instance.
func (c *connaisseur) cosignHost(h node, path string) {
	if h.v == nil {
		return
	}
	rekor := h.get("rekor").str()
	if s := h.str(); s != "" {
		rekor = s
	}
	if rekor == "" || strings.TrimPrefix(rekor, "https://") == "rekor.sigstore.dev" {
		if len(h.mapping()) > 1 {
			c.add(path, h.src, "not converted: the custom Rekor/Fulcio/CT keys; keyless trust roots use the public-good Sigstore instance (tuf: {})")
		}
		return
	}
	c.add(path, h.src, "not converted: the private Sigstore instance (Rekor %s); give signet its trusted_root.json in trustedRoot or trustedRootFile (cosign trusted-root create) instead of tuf", rekor)
}

func (c *connaisseur) trustRoots(list node, path, validator, typ string) []policy.TrustRoot {
	items, cut := list.list()
	c.truncated(cut, path+".trustRoots", list)
	rn := newNames(policy.AllTrustRoots)
	c.roots[validator] = rn
	var out []policy.TrustRoot
	for _, it := range items {
		orig := it.get("name").str()
		if orig == "" {
			c.add(path, it.src, "a trust root without a name is not converted")
			continue
		}
		name, renamed := rn.name(orig)
		tp := fmt.Sprintf("%s.trustRoots.%d", path, len(out))
		if renamed {
			c.add(tp+".name", it.src, "trust root %q is named %q in signet", orig, name)
		}
		tr := policy.TrustRoot{Name: name}
		switch typ {
		case policy.TypeNotation:
			c.unknown(it, tp, "name", "cert", "tsCert")
			tr.Cert, tr.TSCert = it.get("cert").str(), it.get("tsCert").str()
		case policy.TypeNotaryV1:
			c.unknown(it, tp, "name", "key")
			tr.Key = it.get("key").str()
		default:
			c.unknown(it, tp, "name", "key", "keyless")
			tr.Key = it.get("key").str()
			if k := it.get("keyless"); k.v != nil {
				c.unknown(k, tp+".keyless", "issuer", "issuerRegex", "subject", "subjectRegex")
				tr.Keyless = &policy.Keyless{
					Issuer: k.get("issuer").str(), IssuerRegex: k.get("issuerRegex").str(),
					Subject: k.get("subject").str(), SubjectRegex: k.get("subjectRegex").str(),
				}
				if tr.Key != "" {
					c.add(tp, it.src, "key and keyless together: the key is kept")
					tr.Keyless = nil
				}
			}
		}
		if tr.Key == "" && tr.Keyless == nil && tr.Cert == "" {
			c.add(tp, it.src, "trust root %q holds no key, identity or certificate: not converted", orig)
			continue
		}
		out = append(out, tr)
	}
	return out
}

// authOf converts a validator's auth: a Secret's name; inline
// credentials and keychains are notes.
func (c *connaisseur) authOf(a node, path string) *policy.Auth {
	if a.v == nil {
		return nil
	}
	c.unknown(a, path+".auth", "secretName", "username", "password", "k8sKeychain", "useKeychain")
	if a.has("username") || a.has("password") {
		c.add(path, a.src, "not converted: inline registry credentials; put them in a Secret and name it in auth.secretName (credentials never go into a signet policy)")
	}
	for _, k := range []string{"k8sKeychain", "useKeychain"} {
		if b, _ := a.get(k).boolean(); b {
			c.add(path, a.get(k).src, "not converted: signet reads the workload's imagePullSecrets and service account's without configuration")
		}
	}
	if s := a.get("secretName").str(); s != "" {
		return &policy.Auth{SecretName: s}
	}
	return nil
}

func (c *connaisseur) rules(list node) {
	items, cut := list.list()
	c.truncated(cut, "rules", list)
	byPattern := map[string]int{}
	var anchored []string
	var written []int // each rule's components as written, for precedence
	for _, it := range items {
		pat := it.get("pattern").str()
		if pat == "" {
			c.add("", it.src, "a rule without a pattern is not converted")
			continue
		}
		pats, widened, err := connaisseurPatterns(pat)
		if err != nil {
			c.add("", it.src, "pattern %q is not converted: %v", pat, err)
			continue
		}
		base := c.rule(it)
		if len(c.doc.Rules)+len(pats) > maxRules {
			c.add("rules", it.src, "more than %d rules: the rest are not converted", maxRules)
			break
		}
		for _, p := range pats {
			cp, err := policy.CompilePattern(p)
			if err != nil {
				c.add("", it.src, "pattern %q is not converted: %v", pat, err)
				continue
			}
			path := fmt.Sprintf("rules.%d", len(c.doc.Rules))
			if j, dup := byPattern[cp.Normalised()]; dup {
				// Connaisseur keeps the later of two equally specific rules.
				c.add(fmt.Sprintf("rules.%d", j), it.src, "pattern %q matches the same images as this rule's: the later rule is kept, as in Connaisseur", pat)
				r := base
				r.Pattern = c.doc.Rules[j].Pattern
				c.doc.Rules[j] = r
				continue
			}
			byPattern[cp.Normalised()] = len(c.doc.Rules)
			r := base
			r.Pattern = p
			c.doc.Rules = append(c.doc.Rules, r)
			written = append(written, strings.Count(pat, "/")+1)
			if len(pats) > 1 || widened {
				msg := fmt.Sprintf("pattern %q is %d rules in signet (no alternatives in signet patterns)", pat, len(pats))
				if widened {
					msg += "; a negated character class became \"?\", which matches more"
				}
				c.add(path+".pattern", it.src, "%s", msg)
			}
			if !strings.HasPrefix(pat, "*") || !strings.HasSuffix(pat, "*") {
				anchored = append(anchored, pat)
			}
		}
	}
	if len(anchored) > 0 {
		c.add("rules", "", "Connaisseur matched patterns anywhere in the image name (as if written with \"*\" before and after); signet anchors them at both ends, so %q also matched names such as \"evil.example/…\" or a longer repository name there, which other rules govern here", anchored[0])
	}
	c.precedence(written)
}

// rule converts a rule's validator and options; the caller sets Pattern.
func (c *connaisseur) rule(n node) policy.Rule {
	path := fmt.Sprintf("rules.%d", len(c.doc.Rules))
	c.unknown(n, path, "pattern", "validator", "with")
	orig := n.get("validator").str()
	if orig == "" {
		orig = policy.DefaultName
	}
	name, ok := c.validators.lookup(orig)
	if !ok {
		c.add(path+".validator", n.src, "validator %q does not exist: the rule denies (as Connaisseur fails the validation)", orig)
		c.denyValidator()
		return policy.Rule{Validator: importDeny}
	}
	r := policy.Rule{Validator: name}
	w := n.get("with")
	c.unknown(w, path+".with", "trustRoot", "threshold", "required", "verifyInTransparencyLog", "verifySCT", "delegations", "mode")
	switch m := w.get("mode").str(); m {
	case "", "mutate":
	case "insecureValidateOnly":
		r.With.Mutate = new(false)
	default:
		c.add(path+".with", w.get("mode").src, "mode %q is not converted", m)
	}
	typ := c.types[name]
	if typ == policy.TypeStatic {
		if w.has("trustRoot") || w.has("threshold") || w.has("required") {
			c.add(path, w.src, "trustRoot, threshold and required do not apply to a static validator: not converted")
		}
		return r
	}
	roots := c.roots[orig]
	root := func(s string) (string, bool) {
		if roots == nil {
			return "", false
		}
		return roots.lookup(s)
	}
	tr := w.get("trustRoot").str()
	switch {
	case tr == policy.AllTrustRoots:
		r.With.TrustRoot = tr
	case tr != "":
		s, ok := root(tr)
		if !ok {
			c.add(path+".with", w.src, "trust root %q does not exist: the rule denies", tr)
			c.denyValidator()
			return policy.Rule{Validator: importDeny}
		}
		r.With.TrustRoot = s
	}
	required := w.get("required").strings()
	for _, req := range required {
		s, ok := root(req)
		if !ok || tr != policy.AllTrustRoots && req != tr && !(tr == "" && req == policy.DefaultName) {
			// Connaisseur checks the required roots among those the rule
			// selects: one outside them never validates.
			c.add(path+".with", w.src, "required trust root %q is not among the rule's trust roots: the rule denies, as in Connaisseur", req)
			c.denyValidator()
			return policy.Rule{Validator: importDeny}
		}
		if !slices.Contains(r.With.Required, s) {
			r.With.Required = append(r.With.Required, s)
		}
	}
	t, hasT := w.get("threshold").integer()
	switch {
	case tr != policy.AllTrustRoots:
		if hasT && t > 1 {
			c.add(path+".with", w.src, "threshold %d is ignored, as Connaisseur ignores it unless trustRoot is \"*\"", t)
		}
	case hasT && t > 0:
		if t > c.nroots[name] {
			c.add(path+".with", w.src, "threshold %d exceeds the validator's %d trust roots: the rule denies, as in Connaisseur", t, c.nroots[name])
			c.denyValidator()
			return policy.Rule{Validator: importDeny}
		}
		r.With.Threshold = new(max(t, len(r.With.Required)))
	case len(required) == 0:
		// "*" alone: every trust root must validate.
		r.With.Threshold = new(c.nroots[name])
	}
	if typ == policy.TypeCosign {
		if b, ok := w.get("verifyInTransparencyLog").boolean(); ok && !b {
			r.With.VerifyInTransparencyLog = new(false)
		}
		if b, ok := w.get("verifySCT").boolean(); ok && !b {
			r.With.VerifySCT = new(false)
		}
	}
	if d := w.get("delegations").strings(); len(d) > 0 {
		if typ == policy.TypeNotaryV1 {
			r.With.Delegations = d
		} else {
			c.add(path+".with", w.get("delegations").src, "delegations apply to notaryv1 validators only: not converted")
		}
	}
	return r
}

// maxRules bounds the rules a conversion emits (patterns with
// alternatives become several).
const maxRules = 10000

// maxPrecedencePairs bounds the rule pairs precedence compares.
const maxPrecedencePairs = 20000

// precedence makes rules take effect as in Connaisseur where their
// precedence differs: Connaisseur prefers the pattern with more components
// as written ("docker.io/library/*:*" has three, "nginx:*" one), signet the
// one more specific once normalised ("docker.io/library/nginx:*"). When a
// rule's images all match a rule Connaisseur prefers (one with more
// components as written, no other as many), the rule takes that rule's
// validator and options, with a note; when only some do, a note says
// which rule Connaisseur applied to them.
func (c *connaisseur) precedence(written []int) {
	rules := c.doc.Rules
	if len(rules)*len(rules) > maxPrecedencePairs {
		c.add("rules", "", "too many rules to compare their precedence with Connaisseur's: review which rule governs each image (signet explain)")
		return
	}
	pats := make([]*policy.Pattern, len(rules))
	order := make([]int, len(rules))
	for i, r := range rules {
		pats[i], _ = policy.CompilePattern(r.Pattern)
		order[i] = i
	}
	// Most components first, so that a rule taking another's validator
	// takes its final one.
	slices.SortStableFunc(order, func(a, b int) int { return written[b] - written[a] })
	for _, j := range order {
		if pats[j] == nil {
			continue
		}
		best, tie := -1, false
		for i, pi := range pats {
			if i == j || pi == nil || written[i] <= written[j] || !overlap(pi, pats[j]) {
				continue
			}
			switch {
			case best < 0 || written[i] > written[best]:
				best, tie = i, false
			case written[i] == written[best]:
				tie = true
			}
		}
		if best < 0 || pats[best].MoreSpecific(pats[j]) {
			continue // signet too applies the preferred rule to the shared images
		}
		path := fmt.Sprintf("rules.%d", j)
		if !tie && contains(pats[best], pats[j]) {
			rules[j].Validator, rules[j].Validators, rules[j].With = rules[best].Validator, rules[best].Validators, rules[best].With
			c.add(path, "", "Connaisseur applied the rule for %q to every image this pattern matches (more components as written): this rule has its validator and options", rules[best].Pattern)
			continue
		}
		c.add(path, "", "for images both match, Connaisseur applied the rule for %q (more components as written); signet applies this one (more specific once normalised)", rules[best].Pattern)
	}
}

// settings notes the values that are not image policy.
func (c *connaisseur) settings(root, app node, layout string) {
	features := app.get("features")
	if layout == "top-level" {
		features = root
	}
	if b, _ := features.get("detectionMode").boolean(); b {
		c.doc.Mode = policy.ModeWarn
		c.add("mode", features.get("detectionMode").src, "detectionMode: images that fail are admitted with a warning (mode: warn)")
	}
	switch m := features.get("resourceValidationMode").str(); m {
	case "", "all":
	case "podsOnly":
		c.doc.Pinning = policy.PinPodsOnly
		c.add("pinning", features.get("resourceValidationMode").src, "resourceValidationMode: podsOnly: signet pins Pods only (pinning: podsOnly) but still denies other kinds whose images fail; use mode: warn on rules to admit them")
	default:
		c.add("", features.get("resourceValidationMode").src, "resourceValidationMode %q is not converted", m)
	}
	for _, k := range []string{"namespacedValidation", "automaticChildApproval", "automaticUnchangedApproval", "cache", "alerting", "logLevel"} {
		f := features.get(k)
		switch {
		case k == "alerting" && root.has(k):
			f = root.get(k)
		case k == "alerting" || k == "logLevel":
			f = app.get(k)
		}
		if b, ok := f.boolean(); f.v == nil || ok && !b {
			continue
		}
		switch k {
		case "namespacedValidation":
			c.add("", f.src, "not converted: namespaced validation; exclude namespaces with the chart's webhook.excludeNamespaces (install.md), or give namespaces their own ImagePolicy resources")
		case "automaticChildApproval":
			c.add("", f.src, "not converted: signet evaluates every image of a child too (answered from its cache when the owner was pinned); the chart's admission.childApproval only names the owner in the decision log (install.md)")
		case "automaticUnchangedApproval":
			c.add("", f.src, "not converted: the chart's admission.unchangedApproval (install.md) admits updates that change no image")
		case "cache":
			c.add("", f.src, "not converted: cache settings; signet caches verifications in memory (signet serve --cache-ttl), and in Redis with the chart's redis.existingSecret (install.md)")
		case "alerting":
			c.add("", f.src, "not converted: alerting; signet logs each decision (decision log) and exports metrics to alert on")
		case "logLevel":
			c.add("", f.src, "not converted: logLevel is signet serve's --log-level")
		}
	}
	if layout == "application" {
		c.unknown(features, "", "detectionMode", "resourceValidationMode", "namespacedValidation", "automaticChildApproval", "automaticUnchangedApproval", "cache")
		c.unknown(app, "", "validators", "policy", "features", "alerting", "logLevel")
	}
	if r := root.get("redis"); r.v != nil {
		c.add("", r.src, "not converted: Redis settings; see the chart's redis.existingSecret (install.md)")
	}
	if layout == "application" {
		var other []string
		for _, k := range slices.Sorted(maps.Keys(root.mapping())) {
			if k != "application" && k != "redis" && k != "alerting" {
				other = append(other, k)
			}
		}
		if len(other) > 0 {
			c.add("", root.src, "not converted: install settings %s; see signet's Helm chart (install.md)", strings.Join(other, ", "))
		}
	}
}

package policyimport

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/signet-dev/signet/internal/policy"
)

// kyTrust is the trust of one verifyImages entry's attestors: its trust
// roots and, per attestor set, how many of them must verify. Kyverno's
// attestor sets must all pass; a set passes when count of its entries
// verify (all of them when count is unset).
type kyTrust struct {
	typ    string // policy.TypeCosign or policy.TypeNotation
	roots  []policy.TrustRoot
	ids    []string // each root's identity, for deduplication
	groups []kyGroup
	// keyless says whether a root is keyless (public-good Sigstore).
	keyless bool
}

// kyGroup is an attestor set: the roots (indices) and how many must verify.
type kyGroup struct {
	roots []int
	need  int
}

// entryNotes collects the notes of one entry: messages relative to it.
type entryNotes struct {
	msgs []string
	// tlog is set once the note on Kyverno's Rekor check of key
	// signatures is made: one per entry.
	tlog bool
}

func (n *entryNotes) add(format string, args ...any) {
	n.msgs = append(n.msgs, fmt.Sprintf(format, args...))
}

// kyOptions are the rule options attestors set.
type kyOptions struct {
	noTlog, noSCT bool
}

// convertAttestors converts attestor sets into trust; ok false when some
// set cannot be met in signet (the entry then denies).
func convertAttestors(typ string, sets []kyAttestorSet, where string, o *kyOptions, n *entryNotes) (*kyTrust, bool) {
	t := &kyTrust{typ: policy.TypeCosign}
	if typ == "notary" {
		t.typ = policy.TypeNotation
	}
	ok := true
	for i, s := range sets {
		if !t.addSet(s, fmt.Sprintf("%s[%d]", where, i), 0, o, n) {
			ok = false
		}
	}
	return t, ok
}

// addSet adds an attestor set as a group (nested sets as groups of their
// own). It returns false when the set cannot be met.
func (t *kyTrust) addSet(s kyAttestorSet, where string, depth int, o *kyOptions, n *entryNotes) bool {
	if depth >= maxAttestorDepth {
		n.add("%s: attestor sets nested deeper than %d; the entry cannot be converted", where, maxAttestorDepth)
		return false
	}
	entries := s.Entries
	if len(entries) > maxAttestorEntries {
		n.add("%s: more than %d entries; the entry cannot be converted", where, maxAttestorEntries)
		return false
	}
	// Kyverno splits publicKeys holding several PEM keys into one entry
	// each, before counting.
	var expanded []kyAttestor
	for _, e := range entries {
		if e.Keys != nil && strings.Count(e.Keys.PublicKeys, "-----END PUBLIC KEY-----") > 1 {
			for _, k := range splitPEMKeys(e.Keys.PublicKeys) {
				c := *e.Keys
				c.PublicKeys = k
				expanded = append(expanded, kyAttestor{Keys: &c})
			}
			continue
		}
		expanded = append(expanded, e)
	}
	need := len(expanded)
	if s.Count != nil {
		switch c := *s.Count; {
		case c < 1:
			n.add("%s.count %d: Kyverno reads it as every entry", where, c)
		case c > len(expanded):
			n.add("%s.count %d is more than its %d entries: no image can pass", where, c, len(expanded))
			return false
		default:
			need = c
		}
	}
	if len(expanded) == 0 {
		n.add("%s has no entries: no image can pass it", where)
		return false
	}
	g := kyGroup{need: need}
	unconverted := 0
	for j, e := range expanded {
		ew := fmt.Sprintf("%s.entries[%d]", where, j)
		if e.Attestor != nil {
			if need < len(expanded) {
				n.add("%s.attestor: a nested attestor set counted among %d of %d entries is not expressible in signet; it is required in full (stricter)", ew, need, len(expanded))
				need--
				g.need = need
			}
			if !t.addSet(*e.Attestor, ew+".attestor", depth+1, o, n) {
				return false
			}
			continue
		}
		idx, ok := t.addEntry(e, ew, o, n)
		if !ok {
			unconverted++
			continue
		}
		if !containsInt(g.roots, idx) {
			g.roots = append(g.roots, idx)
		} else if g.need > len(g.roots) {
			n.add("%s: the same trust root twice; signet counts one signer once", ew)
		}
	}
	if g.need > len(g.roots) {
		if unconverted > 0 {
			n.add("%s: %d of its entries cannot be converted and %d must verify: no image can pass in signet (stricter)", where, unconverted, g.need)
		} else {
			n.add("%s: %d entries must verify but only %d distinct trust roots remain: no image can pass in signet", where, g.need, len(g.roots))
		}
		return false
	}
	if g.need > 0 {
		t.groups = append(t.groups, g)
	}
	return true
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// splitPEMKeys splits concatenated PEM public keys, as Kyverno does.
func splitPEMKeys(s string) []string {
	var out []string
	for _, k := range strings.SplitAfter(s, "-----END PUBLIC KEY-----") {
		if strings.TrimSpace(k) != "" && strings.Contains(k, "-----BEGIN") {
			out = append(out, strings.TrimSpace(k)+"\n")
		}
	}
	return out
}

// addEntry adds one attestor entry's trust root and returns its index.
func (t *kyTrust) addEntry(e kyAttestor, where string, o *kyOptions, n *entryNotes) (int, bool) {
	if e.Repository != "" {
		n.add("%s.repository: signet reads signatures from the image's own repository; not converted", where)
	}
	if present(e.Annotations) {
		n.add("%s.annotations: signet does not check signature annotations; not converted (looser)", where)
	}
	var root policy.TrustRoot
	var id string
	switch {
	case t.typ == policy.TypeNotation:
		if e.Certificates == nil || strings.TrimSpace(e.Certificates.Cert) == "" {
			n.add("%s: a Notary attestor converts only from certificates.cert; not converted", where)
			return 0, false
		}
		pem := strings.TrimSpace(e.Certificates.Cert) + "\n"
		if c := strings.TrimSpace(e.Certificates.CertChain); c != "" {
			pem += c + "\n"
		}
		root = policy.TrustRoot{Name: "cert", Cert: pem}
		id = "cert:" + strings.Join(strings.Fields(pem), "")
	case e.Keys != nil:
		k := e.Keys
		switch {
		case strings.TrimSpace(k.PublicKeys) != "":
			key := strings.TrimSpace(k.PublicKeys)
			if strings.Contains(key, "{{") {
				n.add("%s.keys.publicKeys is a Kyverno variable; signet needs the key itself; not converted", where)
				return 0, false
			}
			name := "key"
			if strings.HasPrefix(key, "k8s://") {
				name = secretRootName(key)
			} else if !strings.HasPrefix(key, "-----") && strings.Contains(key, "://") {
				name = "kms"
			}
			if strings.HasPrefix(key, "-----") {
				key += "\n"
			}
			root = policy.TrustRoot{Name: name, Key: key}
		case k.Secret != nil && k.Secret.Name != "":
			ns := k.Secret.Namespace
			if ns == "" {
				ns = "default"
				n.add("%s.keys.secret names no namespace; converted as namespace default", where)
			}
			ref := "k8s://" + ns + "/" + k.Secret.Name
			root = policy.TrustRoot{Name: secretRootName(ref), Key: ref}
		case k.KMS != "":
			root = policy.TrustRoot{Name: "kms", Key: k.KMS}
		default:
			n.add("%s.keys names no key; not converted", where)
			return 0, false
		}
		id = "key:" + strings.Join(strings.Fields(root.Key), "")
		if a := strings.ToLower(k.SignatureAlgorithm); a != "" && a != "sha256" {
			n.add("%s.keys.signatureAlgorithm %s: signet checks cosign signatures over SHA-256; signatures over %s will not verify (stricter)", where, k.SignatureAlgorithm, k.SignatureAlgorithm)
		}
		if (k.Rekor == nil || !k.Rekor.IgnoreTlog) && !n.tlog {
			n.tlog = true
			n.add("%s.keys: Kyverno also requires a Rekor entry for key signatures (rekor.ignoreTlog is not set); signet verifies key signatures by the key alone (looser)", where)
		}
		rekorNotes(k.Rekor, k.CTLog, where+".keys", n)
	case e.Keyless != nil:
		kl := e.Keyless
		id2 := &policy.Keyless{Issuer: kl.Issuer, IssuerRegex: kl.IssuerRegExp, Subject: kl.Subject, SubjectRegex: kl.SubjectRegExp}
		if id2.Issuer != "" && id2.IssuerRegex != "" {
			n.add("%s.keyless: both issuer and issuerRegExp; signet takes issuer (stricter)", where)
			id2.IssuerRegex = ""
		}
		if id2.Subject != "" && id2.SubjectRegex != "" {
			n.add("%s.keyless: both subject and subjectRegExp; signet takes subject (stricter)", where)
			id2.SubjectRegex = ""
		}
		if id2.Issuer == "" && id2.IssuerRegex == "" {
			id2.IssuerRegex = ".*"
			n.add("%s.keyless names no issuer: converted as any issuer (issuerRegex .*) — name the OIDC issuer you trust", where)
		}
		if id2.Subject == "" && id2.SubjectRegex == "" {
			id2.SubjectRegex = ".*"
			n.add("%s.keyless names no subject: converted as any subject (subjectRegex .*) — name the signer you trust", where)
		}
		for _, r := range []string{id2.IssuerRegex, id2.SubjectRegex} {
			if _, err := regexp.Compile(r); err != nil && r != "" {
				n.add("%s.keyless: regular expression %q does not compile in Go: %v; not converted", where, r, err)
				return 0, false
			}
		}
		if strings.Contains(kl.Subject, "*") {
			n.add("%s.keyless.subject %q holds \"*\": signet compares subject exactly; use subjectRegExp for a pattern", where, kl.Subject)
		}
		if strings.TrimSpace(kl.Roots) != "" {
			n.add("%s.keyless.roots: a custom Fulcio root needs a Sigstore trusted_root.json in signet (validator trustedRoot: cosign trusted-root create); converted with the public-good instance (tuf: {})", where)
		}
		if present(kl.AdditionalExtensions) {
			n.add("%s.keyless.additionalExtensions: signet does not check certificate extensions beyond issuer and subject; not converted (looser)", where)
		}
		rekorNotes(kl.Rekor, kl.CTLog, where+".keyless", n)
		if kl.Rekor != nil && kl.Rekor.IgnoreTlog {
			o.noTlog = true
		}
		if kl.CTLog != nil && kl.CTLog.IgnoreSCT {
			o.noSCT = true
		}
		root = policy.TrustRoot{Name: "keyless", Keyless: id2}
		id = fmt.Sprintf("keyless:%q %q %q %q", id2.Issuer, id2.IssuerRegex, id2.Subject, id2.SubjectRegex)
		t.keyless = true
	case e.Certificates != nil:
		n.add("%s.certificates: signet's cosign validators trust keys and keyless identities, not certificates; not converted", where)
		return 0, false
	default:
		n.add("%s: an attestor with neither keys, keyless, certificates nor attestor; not converted", where)
		return 0, false
	}
	if t.typ == policy.TypeCosign && root.Key != "" {
		if msg := checkRoot(root); msg != "" {
			n.add("%s: %s; not converted", where, msg)
			return 0, false
		}
	}
	if t.typ == policy.TypeNotation {
		if msg := checkNotationRoot(root); msg != "" {
			n.add("%s: %s; not converted", where, msg)
			return 0, false
		}
	}
	for i, x := range t.ids {
		if x == id {
			return i, true
		}
	}
	t.roots = append(t.roots, root)
	t.ids = append(t.ids, id)
	return len(t.roots) - 1, true
}

func rekorNotes(r *kyRekor, c *kyCTLog, where string, n *entryNotes) {
	if r != nil && (r.URL != "" && r.URL != "https://rekor.sigstore.dev" || r.PubKey != "") {
		n.add("%s.rekor: a private Rekor needs a Sigstore trusted_root.json in signet (validator trustedRoot); not converted", where)
	}
	if c != nil && c.PubKey != "" {
		n.add("%s.ctlog.pubkey: a private CT log needs a Sigstore trusted_root.json in signet; not converted", where)
	}
}

var rootNameRE = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// secretRootName names a trust root after the Secret it reads.
func secretRootName(ref string) string {
	s := strings.TrimPrefix(ref, "k8s://")
	return safeName(strings.ReplaceAll(s, "/", "."), "key")
}

// safeName makes s a valid signet name (letters, digits, '.', '_', '-';
// at most 64), or fallback when nothing is left.
func safeName(s, fallback string) string {
	s = rootNameRE.ReplaceAllString(s, "-")
	s = strings.Trim(s, ".-_")
	if len(s) > 64 {
		s = strings.Trim(s[:64], ".-_")
	}
	if s == "" {
		return fallback
	}
	return s
}

// checkRoot compiles a cosign trust root alone, offline, and returns the
// problem signet finds with it.
func checkRoot(root policy.TrustRoot) string {
	return checkValidator(policy.Validator{Name: "v", Type: policy.TypeCosign, TrustRoots: []policy.TrustRoot{root}})
}

func checkNotationRoot(root policy.TrustRoot) string {
	return checkValidator(policy.Validator{Name: "v", Type: policy.TypeNotation, TrustRoots: []policy.TrustRoot{root}})
}

func checkValidator(v policy.Validator) string {
	v.TrustRoots[0].Name = "r"
	doc := &policy.Document{APIVersion: policy.APIVersion, Kind: policy.Kind}
	doc.Validators = []policy.Validator{v}
	doc.Rules = []policy.Rule{{Pattern: "example.com/x", Validator: "v"}}
	if _, err := policy.Compile(doc, nil, policy.Offline()); err != nil {
		msg := err.Error()
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return msg
	}
	return ""
}

// quorum is how a rule selects a merged validator's trust roots.
type quorum struct {
	trustRoot string
	threshold int
	required  []string
}

// mergeTrust merges the trust of several entries that must all pass into
// one validator's roots and the rule's quorum. Roots the same in several
// entries are one. Every group but one must be met in full in signet (one
// threshold per rule): further partial groups are required in full, with
// a note (stricter).
func mergeTrust(ts []*kyTrust) (roots []policy.TrustRoot, q quorum, notes []string) {
	var ids []string
	index := func(t *kyTrust, i int) int {
		for j, x := range ids {
			if x == t.ids[i] {
				return j
			}
		}
		roots = append(roots, t.roots[i])
		ids = append(ids, t.ids[i])
		return len(roots) - 1
	}
	var groups []kyGroup
	for _, t := range ts {
		for _, g := range t.groups {
			ng := kyGroup{need: g.need}
			for _, r := range g.roots {
				if x := index(t, r); !containsInt(ng.roots, x) {
					ng.roots = append(ng.roots, x)
				}
			}
			if ng.need > len(ng.roots) {
				ng.need = len(ng.roots)
			}
			groups = append(groups, ng)
		}
	}
	names := uniqueRootNames(roots)
	for i := range roots {
		roots[i].Name = names[i]
	}
	required := map[int]bool{}
	var partial []kyGroup
	for _, g := range groups {
		if g.need >= len(g.roots) {
			for _, r := range g.roots {
				required[r] = true
			}
		} else {
			partial = append(partial, g)
		}
	}
	extra := 0
	var extraFrom []int
	for _, g := range partial {
		have := 0
		var rest []int
		for _, r := range g.roots {
			if required[r] {
				have++
			} else {
				rest = append(rest, r)
			}
		}
		need := g.need - have
		if need <= 0 {
			continue
		}
		if extra > 0 {
			notes = append(notes, "two attestor sets each need only some of their entries; signet has one threshold per rule, so every entry of the second is required (stricter)")
			for _, r := range rest {
				required[r] = true
			}
			continue
		}
		extra, extraFrom = need, rest
	}
	// Roots of the partial group that became required count toward it.
	if extra > 0 {
		var rest []int
		for _, r := range extraFrom {
			if required[r] {
				extra--
			} else {
				rest = append(rest, r)
			}
		}
		extra = max(extra, 0)
		if extra == 0 {
			rest = nil
		}
		extraFrom = rest
	}
	// Roots neither required nor counted toward the partial group are left
	// out of the selection.
	var selected []int
	for i := range roots {
		if required[i] || containsInt(extraFrom, i) {
			selected = append(selected, i)
		}
	}
	var kept []policy.TrustRoot
	for _, i := range selected {
		kept = append(kept, roots[i])
	}
	roots = kept
	nreq := 0
	var req []string
	for _, i := range selected {
		if required[i] {
			nreq++
			req = append(req, names[i])
		}
	}
	switch {
	case len(roots) == 0:
	case len(roots) == 1:
		q = quorum{}
	case extra == 0:
		q = quorum{trustRoot: policy.AllTrustRoots, threshold: nreq}
	case nreq == 0:
		q = quorum{trustRoot: policy.AllTrustRoots, threshold: extra}
	default:
		q = quorum{trustRoot: policy.AllTrustRoots, threshold: nreq + extra, required: req}
	}
	return roots, q, notes
}

// uniqueRootNames gives roots names unique within their validator.
func uniqueRootNames(roots []policy.TrustRoot) []string {
	seen := map[string]int{}
	out := make([]string, len(roots))
	for i, r := range roots {
		base := safeName(r.Name, "root")
		if len(base) > 56 {
			base = base[:56]
		}
		seen[base]++
		name := base
		if seen[base] > 1 {
			name = fmt.Sprintf("%s-%d", base, seen[base])
		}
		out[i] = name
	}
	// A generated name may equal a base name used later ("key-2"): make
	// every name unique whatever the input.
	used := map[string]bool{}
	for i, n := range out {
		for k := 2; used[n]; k++ {
			n = fmt.Sprintf("%s-x%d", out[i], k)
		}
		used[n] = true
		out[i] = n
	}
	return out
}

package policyimport

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/policy"
)

// Kyverno applies every verifyImages entry whose imageReferences match an
// image, and each must pass; it admits an image no entry matches. signet
// applies the most specific rule. So each signet rule carries every entry
// whose patterns cover its own (not skipped there), merged into one
// validator; a catch-all "**" rule admits what no entry matches.

// maxOverlapNotes bounds the notes about patterns that overlap;
// maxOutputRules the rules of a converted policy (every pair of them is
// compared).
const (
	maxOverlapNotes = 20
	maxOutputRules  = 512
)

// outRule is a signet rule being built: its pattern and the entries that
// apply to every image it matches.
type outRule struct {
	pattern string
	entries []*kyEntry
	skip    bool // from a skipImageReferences pattern
}

func (c *kyConverter) build() (*policy.Document, []Note, error) {
	doc := &policy.Document{APIVersion: policy.APIVersion, Kind: policy.Kind}
	doc.Metadata.Name = "imported-from-kyverno"
	var rules []*outRule
	seen := map[string]*outRule{}
	add := func(p string, skip bool) {
		if r := seen[p]; r != nil {
			r.skip = r.skip && skip
			return
		}
		r := &outRule{pattern: p, skip: skip}
		seen[p] = r
		rules = append(rules, r)
	}
	for _, e := range c.entries {
		for _, p := range e.patterns {
			add(p, false)
		}
	}
	for _, e := range c.entries {
		for _, p := range e.skips {
			add(p, true)
		}
	}
	// Where two patterns overlap without one containing the other, Kyverno
	// applies both entries to the images of the intersection: a rule for
	// it, when it is a pattern, carries both.
	for i := 0; i < len(rules) && len(rules) <= maxOutputRules && !c.budget.out; i++ {
		for j := 0; j < i && len(rules) <= maxOutputRules; j++ {
			p, q := rules[i].pattern, rules[j].pattern
			if !patternsOverlap(p, q, c.budget) || patternCovers(p, q, c.budget) || patternCovers(q, p, c.budget) {
				continue
			}
			if xs, ok := intersection(p, q, c.budget); ok {
				for _, x := range xs {
					add(x, rules[i].skip && rules[j].skip)
				}
			}
		}
	}
	if len(rules) > maxOutputRules {
		return nil, nil, fmt.Errorf("the image patterns translate into %d signet rules, more than %d: split the input", len(rules), maxOutputRules)
	}
	for _, r := range rules {
		if c.budget.out {
			return nil, nil, errTooComplex
		}
		for _, e := range c.entries {
			if applies(e, r.pattern, c.budget) {
				r.entries = append(r.entries, e)
			}
		}
	}
	if c.budget.out {
		return nil, nil, errTooComplex
	}
	b := &docBuilder{doc: doc, validators: map[string]int{}, budget: c.budget}
	c.ruleEntries = map[string][]*kyEntry{}
	for _, r := range rules {
		c.ruleEntries[r.pattern] = r.entries
	}
	for _, r := range rules {
		b.rule(r)
	}
	catchAll := true
	for _, r := range doc.Rules {
		if r.Pattern == "**" {
			catchAll = false
		}
	}
	if catchAll {
		b.notes = append(b.notes, Note{Path: fmt.Sprintf("rules.%d", len(doc.Rules)), Message: "Kyverno admits images no verifyImages rule matches; signet denies them unless a rule allows them: this rule keeps Kyverno's behaviour. Remove it to require a rule for every image"})
		doc.Rules = append(doc.Rules, policy.Rule{Pattern: "**", Validator: b.static(true)})
	}
	b.fixAuth()
	b.overlaps(rules)
	if c.budget.out {
		return nil, nil, errTooComplex
	}
	b.checkChoice(rules)
	b.entryNotes(c.entries)
	b.modes()
	return doc, b.notes, nil
}

// intersection returns the patterns of the references both p and q
// match, when there are such: the narrower repository glob and the
// narrower tag, when one of each contains the other; for a repository
// glob with a literal prefix and one with a literal suffix ("ghcr.io/a**"
// and "**/app"), the names with both.
func intersection(p, q string, b *budget) ([]string, bool) {
	pr, pt, pd := patternParts(p)
	qr, qt, qd := patternParts(q)
	narrower := func(x, y string) (string, bool) {
		switch {
		case x == "":
			return y, true
		case y == "":
			return x, true
		case prefixesAgree(x, y) && covers(tokens(x), tokens(y), b):
			return y, true
		case prefixesAgree(x, y) && covers(tokens(y), tokens(x), b):
			return x, true
		}
		return "", false
	}
	t, ok := narrower(pt, qt)
	if !ok {
		return nil, false
	}
	d := pd
	switch {
	case d == "":
		d = qd
	case qd != "" && qd != d:
		return nil, false
	}
	var repos []string
	if r, ok := narrower(pr, qr); ok {
		repos = []string{r}
	} else if repos = prefixSuffix(pr, qr); repos == nil {
		repos = prefixSuffix(qr, pr)
	}
	var out []string
	for _, r := range repos {
		x := r
		if t != "" {
			x += ":" + t
		}
		if d != "" {
			x += "@" + d
		}
		norm, err := normalisedPattern(x)
		if err != nil {
			return nil, false
		}
		out = append(out, norm)
	}
	return out, len(out) > 0
}

// prefixSuffix returns the repository patterns of the names that start
// with a's literal prefix and end with b's literal suffix, for a = A"**"
// and b = "**"B: A"**"B, and A joined with B where they overlap.
func prefixSuffix(a, b string) []string {
	pre, ok := strings.CutSuffix(a, "**")
	if !ok || strings.ContainsAny(pre, "*?") {
		return nil
	}
	suf, ok := strings.CutPrefix(b, "**")
	if !ok || suf == "" || strings.ContainsAny(suf, "*?") {
		return nil
	}
	out := []string{pre + "**" + suf}
	for k := 1; k <= min(len(pre), len(suf)); k++ {
		if pre[len(pre)-k:] == suf[:k] {
			out = append(out, pre+suf[k:])
		}
	}
	return out
}

// applies reports whether entry e applies to every image pattern p
// matches: one of its patterns covers p and none of its skips matches it.
func applies(e *kyEntry, p string, b *budget) bool {
	ok := false
	for _, q := range e.patterns {
		if q == p || patternCovers(q, p, b) {
			ok = true
			break
		}
	}
	if !ok {
		return false
	}
	for _, s := range e.skips {
		if s == p || patternCovers(s, p, b) {
			return false
		}
	}
	return true
}

// errTooComplex refuses patterns too many or too intricate to compare.
var errTooComplex = fmt.Errorf("the image patterns are too many or too intricate to compare within %d steps: simplify or split the input", conversionBudget)

type docBuilder struct {
	doc    *policy.Document
	budget *budget
	// validators by name: index in doc.Validators.
	validators map[string]int
	notes      []Note
	// entriesOf records each output rule's entries.
	entriesOf [][]*kyEntry
	modeOf    []string
}

// static returns the name of the static validator approving or denying.
func (b *docBuilder) static(approve bool) string {
	name := "deny"
	if approve {
		name = "allow"
	}
	if _, ok := b.validators[name]; !ok {
		b.validators[name] = len(b.doc.Validators)
		b.doc.Validators = append(b.doc.Validators, policy.Validator{Name: name, Type: policy.TypeStatic, Approve: &approve})
	}
	return name
}

// rule adds the signet rule for r.
func (b *docBuilder) rule(r *outRule) {
	idx := len(b.doc.Rules)
	path := fmt.Sprintf("rules.%d", idx)
	out := policy.Rule{Pattern: r.pattern}
	var sources []string
	mode := ""
	mutate := true
	deny := false
	var cosignTrust, notationTrust []*kyTrust
	var atts []kyAtt
	var auths []*policy.Auth
	var opts kyOptions
	for _, e := range r.entries {
		sources = append(sources, e.source)
		mode = stricter(mode, e.mode)
		mutate = mutate && e.mutate
		deny = deny || e.deny
		opts.noTlog = opts.noTlog || e.opts.noTlog
		opts.noSCT = opts.noSCT || e.opts.noSCT
		if e.trust != nil {
			if e.trust.typ == policy.TypeNotation {
				notationTrust = append(notationTrust, e.trust)
			} else {
				cosignTrust = append(cosignTrust, e.trust)
			}
		}
		if e.auth != nil {
			auths = append(auths, e.auth)
		}
		atts = append(atts, e.atts...)
	}
	b.entriesOf = append(b.entriesOf, r.entries)
	b.modeOf = append(b.modeOf, mode)
	switch {
	case len(r.entries) == 0:
		out.Validator = b.static(true)
		b.notes = append(b.notes, Note{Path: path, Message: "skipped by skipImageReferences: admitted without verification as in Kyverno"})
	case deny:
		out.Validator = b.static(false)
		b.notes = append(b.notes, Note{Path: path, Message: "from " + strings.Join(sources, ", ") + ": a requirement that cannot be converted exactly makes every image here denied (see the notes of those entries)"})
	case len(cosignTrust) == 0 && len(notationTrust) == 0 && len(atts) == 0:
		out.Validator = b.static(true)
		b.notes = append(b.notes, Note{Path: path, Message: "from " + strings.Join(sources, ", ") + ": admitted without verification, as Kyverno checks no signature there"})
	default:
		if len(sources) > 1 {
			b.notes = append(b.notes, Note{Path: path, Message: "Kyverno applies each of " + strings.Join(sources, ", ") + " to these images; all must pass here too, their trust roots merged into one validator"})
		}
		var names []string
		var q quorum
		if len(cosignTrust) > 0 {
			name, cq := b.validator(r.entries, policy.TypeCosign, cosignTrust, auths)
			names, q = append(names, name), cq
		}
		if len(notationTrust) > 0 {
			name, nq := b.validator(r.entries, policy.TypeNotation, notationTrust, auths)
			if len(names) > 0 {
				b.notes = append(b.notes, Note{Path: path, Message: "cosign and Notary entries together: signet applies one trustRoot/threshold to both validators; each takes all its trust roots with the smaller threshold (looser)"})
				q = quorum{trustRoot: policy.AllTrustRoots, threshold: min(q.threshold, nq.threshold), required: nil}
				if q.threshold == 0 {
					q.threshold = 1
				}
			} else {
				q = nq
			}
			names = append(names, name)
		}
		if len(names) == 0 {
			// Attestations only: the image must be signed by the first
			// attestation's signers.
			for _, a := range atts {
				if a.trust != nil {
					name, aq := b.validator(r.entries, policy.TypeCosign, []*kyTrust{a.trust}, auths)
					names, q = append(names, name), aq
					b.notes = append(b.notes, Note{Path: path, Message: "Kyverno checks only attestations here; signet's rule also requires an image signature, taken from the first attestation's attestors (stricter)"})
					break
				}
			}
		}
		if len(names) == 0 {
			out.Validator = b.static(false)
			b.notes = append(b.notes, Note{Path: path, Message: "attestations without attestors and no image attestors: nothing signet can verify them with; denied (stricter)"})
			break
		}
		if len(names) == 1 {
			out.Validator = names[0]
		} else {
			out.Validators = names
		}
		out.With.TrustRoot = q.trustRoot
		if q.threshold > 0 {
			out.With.Threshold = new(q.threshold)
		}
		out.With.Required = q.required
		if opts.noTlog || opts.noSCT {
			if len(cosignTrust) > 0 && len(notationTrust) == 0 {
				if opts.noTlog {
					out.With.VerifyInTransparencyLog = new(false)
				}
				if opts.noSCT {
					out.With.VerifySCT = new(false)
				}
			}
		}
		b.attestations(&out, path, atts, names, auths, r.entries)
	}
	if !mutate {
		out.With.Mutate = new(false)
	}
	b.doc.Rules = append(b.doc.Rules, out)
}

// attestations adds the entries' attestation requirements to rule out.
func (b *docBuilder) attestations(out *policy.Rule, path string, atts []kyAtt, names []string, auths []*policy.Auth, entries []*kyEntry) {
	used := map[string]bool{}
	for _, a := range atts {
		att := a.att
		base := att.Name
		for k := 2; used[att.Name]; k++ {
			att.Name = safeName(fmt.Sprintf("%s-%d", truncate(base, 56), k), "attestation")
		}
		used[att.Name] = true
		if a.trust != nil {
			name, q := b.validator(entries, policy.TypeCosign, []*kyTrust{a.trust}, auths)
			att.Validator = name
			att.TrustRoot = q.trustRoot
			if q.threshold > 0 {
				att.Threshold = new(q.threshold)
			}
			att.Required = q.required
		} else if len(names) > 1 || b.doc.Validators[b.validators[names[0]]].Type != policy.TypeCosign {
			// The rule's validator is not one cosign validator: name it.
			for _, n := range names {
				if b.doc.Validators[b.validators[n]].Type == policy.TypeCosign {
					att.Validator = n
				}
			}
			if att.Validator == "" {
				b.notes = append(b.notes, Note{Path: path, Message: fmt.Sprintf("attestation %s has no attestors and the rule has no cosign validator to sign it: not converted, the rule denies", att.Name)})
				out.Validator, out.Validators, out.With = b.static(false), nil, policy.RuleOptions{}
				return
			}
			att.TrustRoot = policy.AllTrustRoots
		}
		out.With.Attestations = append(out.With.Attestations, att)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// validator returns the validator merging trusts (of one type) for the
// rule's entries, creating it on first use.
func (b *docBuilder) validator(entries []*kyEntry, typ string, trusts []*kyTrust, auths []*policy.Auth) (string, quorum) {
	var parts []string
	for _, e := range entries {
		parts = append(parts, e.name)
	}
	roots, q, notes := mergeTrust(trusts)
	key := rootsKey(typ, roots)
	name := ""
	if len(entries) == 1 && len(trusts) == 1 && trusts[0] == entries[0].trust {
		name = entries[0].name
	} else {
		name = safeName(strings.Join(parts, "+"), "kyverno")
		if len(name) > 52 {
			name = strings.Trim(name[:52], ".-_")
		}
	}
	if typ == policy.TypeNotation && !strings.HasSuffix(name, "notary") {
		name = safeName(truncate(name, 56)+"-notary", "notary")
	}
	// Reuse a validator with the same roots; else a new, unique name.
	for n, i := range b.validators {
		v := b.doc.Validators[i]
		if v.Type == typ && rootsKey(typ, v.TrustRoots) == key && sameAuth(v.Auth, firstAuth(auths)) {
			return n, q
		}
	}
	base := name
	for k := 2; ; k++ {
		if _, taken := b.validators[name]; !taken && name != "allow" && name != "deny" && name != policy.ValidatorNamespace {
			break
		}
		name = safeName(fmt.Sprintf("%s-%d", truncate(base, 58), k), "kyverno")
	}
	v := policy.Validator{Name: name, Type: typ, TrustRoots: roots, Auth: firstAuth(auths)}
	for _, t := range trusts {
		if t.keyless {
			v.TUF = &policy.TUF{}
		}
	}
	b.validators[name] = len(b.doc.Validators)
	path := fmt.Sprintf("validators.%d", len(b.doc.Validators))
	for _, m := range notes {
		b.notes = append(b.notes, Note{Path: path, Message: m})
	}
	if q.threshold > 1 && v.TUF != nil {
		b.notes = append(b.notes, Note{Path: path, Message: "signet counts distinct signers toward a threshold; Kyverno counts entries, so one signature matching two keyless entries counts twice there (signet is stricter)"})
	}
	b.doc.Validators = append(b.doc.Validators, v)
	return name, q
}

// rootsKey identifies a validator's type and trust roots.
func rootsKey(typ string, roots []policy.TrustRoot) string {
	j, _ := json.Marshal(roots)
	return typ + "|" + string(j)
}

func firstAuth(a []*policy.Auth) *policy.Auth {
	if len(a) == 0 {
		return nil
	}
	return a[0]
}

func sameAuth(a, b *policy.Auth) bool {
	return a == nil && b == nil || a != nil && b != nil && a.SecretName == b.SecretName
}

// fixAuth drops auth from validators used by a rule whose pattern has a
// wildcard host: signet then needs auth.registries, which Kyverno's
// credentials do not say.
func (b *docBuilder) fixAuth() {
	for i := range b.doc.Validators {
		v := &b.doc.Validators[i]
		if v.Auth == nil {
			continue
		}
		for _, r := range b.doc.Rules {
			if !usesValidator(r, v.Name) {
				continue
			}
			host, _, _ := strings.Cut(r.Pattern, "/")
			if strings.ContainsAny(host, "*?") || !strings.Contains(r.Pattern, "/") {
				b.notes = append(b.notes, Note{Path: fmt.Sprintf("validators.%d", i), Message: fmt.Sprintf("imageRegistryCredentials Secret %s not converted: rule %q matches any registry, and signet offers a validator's credentials only to the registries listed in auth.registries (add auth: {secretName: %s, registries: [...]})", v.Auth.SecretName, r.Pattern, v.Auth.SecretName)})
				v.Auth = nil
				break
			}
		}
	}
}

func usesValidator(r policy.Rule, name string) bool {
	if r.Validator == name {
		return true
	}
	for _, n := range r.Validators {
		if n == name {
			return true
		}
	}
	for _, a := range r.With.Attestations {
		if a.Validator == name {
			return true
		}
	}
	return false
}

// stricter returns the stricter of two modes ("" is none).
func stricter(a, b string) string {
	rank := map[string]int{"": 0, policy.ModeAudit: 1, policy.ModeWarn: 2, policy.ModeEnforce: 3}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// modes sets the rules' modes: the policy's when they all agree.
func (b *docBuilder) modes() {
	common := ""
	same := true
	for i, m := range b.modeOf {
		if m == "" || b.doc.Rules[i].Validator == "allow" {
			continue
		}
		if common == "" {
			common = m
		} else if m != common {
			same = false
		}
	}
	if same {
		if common != "" && common != policy.ModeEnforce {
			b.doc.Mode = common
		}
		return
	}
	for i, m := range b.modeOf {
		if m != "" && m != policy.ModeEnforce && b.doc.Rules[i].Validator != "allow" {
			b.doc.Rules[i].With.Mode = m
		}
	}
}

// entryNotes places each entry's notes on the first rule it governs, or
// on the document.
func (b *docBuilder) entryNotes(entries []*kyEntry) {
	for _, e := range entries {
		path := ""
		for i, es := range b.entriesOf {
			for _, x := range es {
				if x == e && path == "" {
					path = fmt.Sprintf("rules.%d", i)
				}
			}
		}
		for _, m := range e.notes {
			b.notes = append(b.notes, Note{Path: path, Source: e.source, Message: m})
		}
	}
}

// overlaps notes pairs of rules that some image matches both of, neither
// covering the other, with different entries: Kyverno applies both there,
// signet the more specific.
func (b *docBuilder) overlaps(rules []*outRule) {
	count := 0
	for i := range rules {
		for j := i + 1; j < len(rules); j++ {
			p, q := rules[i].pattern, rules[j].pattern
			if sameEntries(rules[i].entries, rules[j].entries) || !patternsOverlap(p, q, b.budget) || patternCovers(p, q, b.budget) || patternCovers(q, p, b.budget) {
				continue
			}
			if xs, ok := intersection(p, q, b.budget); ok && !slices.ContainsFunc(xs, func(x string) bool { return !b.hasRule(x) }) {
				continue
			}
			count++
			if count > maxOverlapNotes {
				continue
			}
			b.notes = append(b.notes, Note{Path: fmt.Sprintf("rules.%d", i), Message: fmt.Sprintf("patterns %q and %q overlap: Kyverno requires both entries for an image matching both; signet applies the more specific rule only. Add a rule for their intersection if such images exist", p, q)})
		}
	}
	if count > maxOverlapNotes {
		b.notes = append(b.notes, Note{Message: fmt.Sprintf("%d more pairs of overlapping patterns", count-maxOverlapNotes)})
	}
}

// hasRule reports whether the document has a rule with pattern p.
func (b *docBuilder) hasRule(p string) bool {
	for _, r := range b.doc.Rules {
		if r.Pattern == p {
			return true
		}
	}
	return false
}

func sameEntries(a, b []*kyEntry) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkChoice compiles the document and, for an image made from each
// rule's pattern, checks that signet chooses that rule (or one with the
// same entries): signet's specificity is not Kyverno's containment.
func (b *docBuilder) checkChoice(rules []*outRule) {
	eng, err := policy.Compile(b.doc, nil, policy.Offline())
	if err != nil {
		return // reported by the caller's lint
	}
	byPattern := map[string]int{}
	for i, r := range b.doc.Rules {
		byPattern[r.Pattern] = i
	}
	for i, r := range rules {
		ref, ok := probe(r.pattern)
		if !ok {
			continue
		}
		got, _, ok := eng.Match(ref)
		if !ok || got == r.pattern {
			continue
		}
		j, found := byPattern[got]
		if found && j < len(b.entriesOf) && sameEntries(b.entriesOf[j], r.entries) {
			continue
		}
		b.notes = append(b.notes, Note{Path: fmt.Sprintf("rules.%d", i), Message: fmt.Sprintf("an image such as %s matches this rule, but signet applies the more specific %q to it: review", ref.Original, got)})
	}
}

// probe makes an image reference a pattern matches: each wildcard one
// letter, a leading wildcard host a name.
func probe(p string) (imageref.Ref, bool) {
	s := p
	if strings.HasPrefix(s, "**") || strings.HasPrefix(s, "*/") {
		s = "probe.example" + strings.TrimLeft(s, "*")
	}
	s = strings.ReplaceAll(s, "**", "x")
	s = strings.ReplaceAll(s, "*", "x")
	s = strings.ReplaceAll(s, "?", "x")
	if !strings.Contains(s, "/") {
		s += "/x"
	}
	ref, err := imageref.Parse(s)
	if err != nil {
		return imageref.Ref{}, false
	}
	c, err := policy.CompilePattern(p)
	if err != nil || !c.Match(ref) {
		return imageref.Ref{}, false
	}
	return ref, true
}

package policyimport

import (
	"errors"
	"fmt"
	"strings"

	"github.com/signet-dev/signet/internal/policy"
)

func init() { register("kyverno", convertKyverno) }

// kyEntry is one verifyImages entry of a Kyverno rule, converted.
type kyEntry struct {
	name   string // its validator's name
	source string
	// refs and skipRefs are the Kyverno patterns.
	refs, skipRefs []string
	// patterns and skips are normalised signet patterns.
	patterns, skips []string
	// trust is nil when the entry checks no signature.
	trust *kyTrust
	// deny: the entry cannot be met in signet.
	deny   bool
	mode   string
	mutate bool
	opts   kyOptions
	auth   *policy.Auth
	atts   []kyAtt
	notes  []string
}

// kyAtt is an attestation requirement, its validator (nil: the rule's).
type kyAtt struct {
	att   policy.Attestation
	trust *kyTrust
}

// convertKyverno converts Kyverno ClusterPolicy and Policy verifyImages
// rules.
func convertKyverno(in []Input) (*policy.Document, []Note, error) {
	var pols []kyPolicy
	var notes []Note
	for _, f := range in {
		p, n, err := readKyverno(f.Name, f.Data)
		if err != nil {
			return nil, nil, err
		}
		pols = append(pols, p...)
		notes = append(notes, n...)
	}
	if len(pols) == 0 {
		return nil, nil, errors.New("no Kyverno ClusterPolicy or Policy (kyverno.io) found in the input")
	}
	c := &kyConverter{names: map[string]bool{"allow": true, "deny": true, policy.ValidatorNamespace: true}, budget: newBudget(conversionBudget)}
	for _, p := range pols {
		c.policy(p)
	}
	if c.err != nil {
		return nil, nil, c.err
	}
	doc, rnotes, err := c.build()
	if err != nil {
		return nil, nil, err
	}
	return doc, append(notes, append(c.notes, rnotes...)...), nil
}

type kyConverter struct {
	entries []*kyEntry
	names   map[string]bool
	notes   []Note
	// err is a bound exceeded: the input is refused rather than converted
	// in part (a part left out would be admitted by the catch-all rule).
	err error
	// budget bounds the glob comparisons of the whole conversion.
	budget *budget
	// ruleEntries are the entries each converted rule carries, by pattern.
	ruleEntries map[string][]*kyEntry
}

func (c *kyConverter) note(source, format string, args ...any) {
	c.notes = append(c.notes, Note{Source: source, Message: fmt.Sprintf(format, args...)})
}

// policy converts one policy object's verifyImages entries.
func (c *kyConverter) policy(p kyPolicy) {
	for _, m := range p.notes {
		c.note(p.source, "%s", m)
	}
	spec := p.obj.Spec
	if p.obj.Kind == "Policy" {
		ns := p.obj.Metadata.Namespace
		if ns == "" {
			ns = "its namespace"
		}
		c.note(p.source, "a Kyverno Policy applies in %s only; signet's equivalent is an ImagePolicy there (kind: ImagePolicy, metadata.namespace: %s, these validators and rules under spec:, which adds to the cluster's requirements). Converted into this cluster-wide policy, its rules apply in every namespace (stricter)", ns, ns)
	}
	if present(spec.ValidationFailureActionOverrides) {
		c.note(p.source, "spec.validationFailureActionOverrides (a mode per namespace) has no equivalent in a cluster policy: a namespace's ImagePolicy can add rules in its own mode; not converted")
	}
	if strings.EqualFold(spec.FailurePolicy, "Ignore") {
		c.note(p.source, "spec.failurePolicy Ignore admits images when Kyverno cannot answer; signet denies what it cannot verify (inconclusive) in enforce mode (stricter)")
	}
	any := false
	for i, r := range spec.Rules {
		if len(r.VerifyImages) == 0 {
			continue
		}
		any = true
		rsrc := fmt.Sprintf("%s: rules[%d] (%s)", p.source, i, r.Name)
		if present(r.Match) || present(r.Exclude) {
			c.note(rsrc, "match/exclude: signet checks the images of every workload kind (Pods and their controllers) in every namespace its webhook is not excluded from (webhook.excludeNamespaces); per-namespace requirements are ImagePolicies in those namespaces; resource filters not converted")
		}
		if present(r.Preconditions) || present(r.Context) {
			c.note(rsrc, "preconditions and context have no equivalent; not converted (the rule applies unconditionally: stricter)")
		}
		for j, v := range r.VerifyImages {
			if len(c.entries) >= maxKyvernoEntries {
				c.err = fmt.Errorf("%s: more than %d verifyImages entries in the input; split it", rsrc, maxKyvernoEntries)
				return
			}
			src := fmt.Sprintf("%s.verifyImages[%d]", rsrc, j)
			base := p.obj.Metadata.Name + "." + r.Name
			if len(r.VerifyImages) > 1 {
				base += fmt.Sprintf(".%d", j)
			}
			e := c.entry(v, spec, src)
			e.name = c.uniqueName(base)
			c.entries = append(c.entries, e)
		}
	}
	if !any {
		c.note(p.source, "no verifyImages rule; nothing to convert")
	}
}

// uniqueName makes a validator name from base, unique in the policy.
func (c *kyConverter) uniqueName(base string) string {
	n := safeName(base, "kyverno")
	if len(n) > 60 {
		n = strings.Trim(n[:60], ".-_")
	}
	name := n
	for k := 2; c.names[name]; k++ {
		name = fmt.Sprintf("%s-%d", n, k)
	}
	c.names[name] = true
	return name
}

// entry converts one verifyImages entry.
func (c *kyConverter) entry(v kyVerify, spec kySpec, src string) *kyEntry {
	e := &kyEntry{source: src, mutate: true, refs: v.ImageReferences, skipRefs: v.SkipImageReferences}
	if v.Image != "" {
		e.refs = append([]string{v.Image}, e.refs...)
	}
	n := &entryNotes{}
	refs := v.ImageReferences
	if v.Image != "" {
		refs = append([]string{v.Image}, refs...)
	}
	if len(refs) > maxReferences || len(v.SkipImageReferences) > maxReferences {
		c.err = fmt.Errorf("%s: more than %d imageReferences or skipImageReferences", src, maxReferences)
		return e
	}
	if len(refs) == 0 {
		n.add("no imageReferences: matches no image")
	}
	var err, serr error
	e.patterns, err = translateAll(refs, "imageReferences", n)
	e.skips, serr = translateAll(v.SkipImageReferences, "skipImageReferences", n)
	if err = errors.Join(err, serr); err != nil {
		c.err = fmt.Errorf("%s: %w", src, err)
		return e
	}

	typ := strings.ToLower(v.Type)
	switch typ {
	case "", "cosign", "sigstorebundle":
	case "notary":
	default:
		n.add("type %q is not known to the converter: every image it matches is denied (stricter)", v.Type)
		e.deny = true
	}
	sets := v.Attestors
	if v.Key != "" || v.Subject != "" || v.Issuer != "" {
		// The fields Kyverno's first verifyImages version had.
		a := kyAttestor{}
		if v.Key != "" {
			a.Keys = &kyKeys{PublicKeys: v.Key}
		} else {
			a.Keyless = &kyKeyless{Subject: v.Subject, Issuer: v.Issuer, Roots: v.Roots, AdditionalExtensions: v.AdditionalExtensions}
		}
		sets = append([]kyAttestorSet{{Entries: []kyAttestor{a}}}, sets...)
	}
	if len(sets) > 0 && !e.deny {
		t, ok := convertAttestors(typ, sets, "attestors", &e.opts, n)
		e.trust = t
		if !ok {
			e.deny = true
		} else if len(t.groups) == 0 {
			e.trust = nil
		}
	}
	for i, a := range v.Attestations {
		if i >= 16 {
			n.add("more than 16 attestations; signet checks at most 16 per rule: the entry denies (stricter)")
			e.deny = true
			break
		}
		att, ok := convertAttestation(a, typ, fmt.Sprintf("attestations[%d]", i), &e.opts, n)
		if !ok {
			e.deny = true
			continue
		}
		e.atts = append(e.atts, att)
	}
	e.mode = kyvernoMode(v.FailureAction, spec.ValidationFailureAction, n)
	if v.MutateDigest != nil && !*v.MutateDigest {
		e.mutate = false
		if v.VerifyDigest == nil || *v.VerifyDigest {
			n.add("verifyDigest with mutateDigest false requires images to be written with a digest; signet verifies the digest a tag names and keeps the image as written (with.mutate: false) (looser)")
		}
	}
	if v.VerifyDigest != nil && !*v.VerifyDigest && e.mutate {
		n.add("verifyDigest false: signet pins every verified image to its digest regardless")
	}
	if v.Required != nil && !*v.Required {
		n.add("required false: signet verifies every image this rule matches whenever it is admitted (stricter)")
	}
	if v.UseCache != nil && !*v.UseCache {
		n.add("useCache false: signet caches results for --cache-ttl (a policy change is a new cache key)")
	}
	if v.Repository != "" {
		n.add("repository %q: signet reads signatures from the image's own repository; images signed only there fail (stricter)", v.Repository)
	}
	if present(v.Annotations) {
		n.add("annotations: signet does not check signature annotations; not converted (looser)")
	}
	if present(v.Validate) {
		n.add("validate (a check of the verification result) has no equivalent; not converted")
	}
	if cr := v.ImageRegistryCredentials; cr != nil {
		if len(cr.Secrets) > 0 {
			e.auth = &policy.Auth{SecretName: cr.Secrets[0]}
			n.add("imageRegistryCredentials.secrets: the Secret %s must be in signet's namespace (copy it there); signet offers it only to the registries of this rule's patterns", cr.Secrets[0])
			if len(cr.Secrets) > 1 {
				n.add("imageRegistryCredentials.secrets: signet takes one Secret per validator; %v not converted", cr.Secrets[1:])
			}
		}
		if len(cr.Providers) > 0 {
			n.add("imageRegistryCredentials.providers: signet always uses the workload's pull secrets, its Docker config and the cloud keychains (ECR, GCR/Artifact Registry, ACR)")
		}
		if cr.AllowInsecureRegistry {
			n.add("imageRegistryCredentials.allowInsecureRegistry: list the plain-HTTP registries in insecureRegistries")
		}
	}
	if e.trust == nil && len(e.atts) == 0 && !e.deny {
		n.add("no attestors and no attestations: Kyverno checks no signature; converted as allowed without verification")
	}
	e.notes = n.msgs
	return e
}

// translateAll translates Kyverno patterns into normalised signet
// patterns.
func translateAll(refs []string, field string, n *entryNotes) ([]string, error) {
	var out []string
	for i, r := range refs {
		tr := kyvernoPatterns(r)
		if tr.err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", field, i, tr.err)
		}
		for _, m := range tr.notes {
			n.add("%s[%d]: %s", field, i, m)
		}
		for _, p := range tr.patterns {
			norm, err := normalisedPattern(p)
			if err != nil {
				n.add("%s[%d]: %q translates to %q, which signet refuses (%v); not converted", field, i, r, p, err)
				continue
			}
			out = append(out, norm)
		}
	}
	return dedupe(out), nil
}

// kyvernoMode maps validationFailureAction (the rule's failureAction
// first) to a signet mode.
func kyvernoMode(rule, policyAction string, n *entryNotes) string {
	a := rule
	if a == "" {
		a = policyAction
	}
	switch strings.ToLower(a) {
	case "enforce":
		return policy.ModeEnforce
	case "audit":
		return policy.ModeAudit
	case "":
		n.add("no validationFailureAction: Kyverno's default is Audit, converted as mode audit (images are admitted, failures logged); set enforce to deny")
		return policy.ModeAudit
	}
	n.add("validationFailureAction %q is not Enforce or Audit; converted as enforce", a)
	return policy.ModeEnforce
}

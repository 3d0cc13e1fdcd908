package policy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/signet-dev/signet/internal/verify"
)

// RuleResult is one rule's part in a decision of an engine from
// CompileSet.
type RuleResult struct {
	// Object is the policy object of the rule.
	Object ObjectRef `json:"object"`
	// Rule is the rule's pattern and Validator its validator.
	Rule      string `json:"rule"`
	Validator string `json:"validator"`
	// Allowed and Outcome are the rule's own verdict; Outcome is empty
	// for a delegating rule (validator: namespace) and for a rule not
	// checked because another had already denied the image in enforce
	// mode.
	Allowed bool           `json:"allowed"`
	Outcome verify.Outcome `json:"outcome,omitempty"`
	Mode    string         `json:"mode"`
}

// maxTied bounds the rules kept on the stack for one decision; more are
// allocated.
const maxTied = 4

// MaxNamespaceRules bounds the rules of a namespace's ImagePolicies that
// take part in one decision (one per ImagePolicy): each is a verification
// of its own, and a namespace may create any number of ImagePolicies. An
// image more of them apply to is denied.
const MaxNamespaceRules = 16

// EvaluateFor decides whether image may run in a workload of namespace,
// by the ClusterImagePolicies and the namespace's ImagePolicies
// (docs/policy.md, "How they combine"):
//
//   - the cluster's most specific matching pattern governs, across every
//     ClusterImagePolicy; equally specific patterns of several objects
//     must all allow;
//   - each ImagePolicy of the namespace with a rule that applies to image
//     (its most specific) adds that rule: it must allow too;
//   - a cluster rule with validator: namespace is met only by the
//     namespace's rules: with none that applies, the image is denied.
//
// Every rule that took part is verified against the same digest (the tag
// is resolved once) and named in the reason. A denial takes the
// strictest mode of the rules that denied it; the image is pinned unless
// a rule that took part says with.mutate: false. namespace "" is the
// cluster policy alone (Evaluate). The work done is that of the rules of
// the cluster and of this namespace's ImagePolicies; other namespaces'
// policies are never read.
func (e *Engine) EvaluateFor(ctx context.Context, namespace, image string) Decision {
	return e.evaluateFor(ctx, namespace, image, nil)
}

// evaluateFor is EvaluateFor, recording the decision in t when not nil.
func (e *Engine) evaluateFor(ctx context.Context, namespace, image string, t *Trace) (d Decision) {
	d = Decision{Image: image, Outcome: verify.Failed, Checks: []verify.Check{}, Mode: e.mode, Pinning: e.pinning}
	defer recoverDecision(&d, image)
	ctx, sel, ok := e.begin(ctx, &d, t)
	if !ok {
		return d
	}
	var cbuf, nbuf [maxTied]*compiledRule
	cluster, err := sel.chooseIn(ctx, e.rules, true, cbuf[:0])
	if t != nil {
		t.choice(sel.ref, e.rules, cluster, err)
	}
	if err != nil {
		d.Outcome = classify(ctx, err)
		d.Reason = fmt.Sprintf("which rule applies to %s depends on what its tag names: %v", d.Reference, err)
		return d
	}
	if len(cluster) == 0 {
		d.Reason = fmt.Sprintf("no cluster policy rule matches %s; images are denied unless a ClusterImagePolicy rule's pattern matches them", d.Reference)
		return d
	}
	// The namespace's rules: each ImagePolicy's most specific that applies.
	local := nbuf[:0]
	if e.set != nil && namespace != "" {
		for _, u := range e.set.namespaced[namespace] {
			n := len(local)
			local, err = sel.chooseIn(ctx, u.rules, false, local)
			if t != nil {
				t.choice(sel.ref, u.rules, local[n:], err)
			}
			if err != nil {
				d.Outcome = classify(ctx, err)
				d.Reason = fmt.Sprintf("which rule of %s applies to %s depends on what its tag names: %v", u.ref, d.Reference, err)
				return d
			}
			if len(local) > MaxNamespaceRules {
				d.Mode = ModeEnforce
				d.Reason = fmt.Sprintf("more than %d ImagePolicies of namespace %q have a rule matching %s; merge them", MaxNamespaceRules, namespace, d.Reference)
				return d
			}
		}
	}
	g := delegationOf(cluster)
	if g.first != nil && len(local) == 0 {
		d.Rule, d.Validator, d.RuleHash, d.Mode = g.first.pattern.String(), g.first.validator, g.first.hash, g.mode
		d.Rules = appendResults(nil, cluster)
		d.Pinning = pinningOf(e.pinning, cluster, nil)
		if namespace == "" {
			d.Reason = fmt.Sprintf("%s delegates the images it matches to the ImagePolicies of the workload's namespace, and no namespace was given", g.where)
		} else {
			d.Reason = fmt.Sprintf("%s delegates the images it matches to the ImagePolicies of namespace %q, and none of them has a rule matching %s", g.where, namespace, d.Reference)
		}
		return d
	}
	return e.combine(ctx, &sel, cluster, local, g, d)
}

// delegation is what the chosen cluster rules that delegate to the
// namespace (validator: namespace) say together.
type delegation struct {
	first  *compiledRule // nil when none does
	mode   string        // the strictest of their modes
	mutate bool          // none says with.mutate: false
	where  string        // who delegates, for reasons
}

func delegationOf(cluster []*compiledRule) delegation {
	g := delegation{mode: ModeAudit, mutate: true}
	for _, r := range cluster {
		if !r.delegate {
			continue
		}
		if g.first == nil {
			g.first, g.where = r, r.where
		} else {
			g.where += " and " + r.where
		}
		g.mode, g.mutate = stricter(g.mode, r.mode), g.mutate && r.mutate
	}
	return g
}

// combine decides by every rule that takes part: the cluster's (those not
// delegating) and the namespace's.
func (e *Engine) combine(ctx context.Context, sel *selection, cluster, local []*compiledRule, g delegation, base Decision) Decision {
	// part are the rules that take part, at is the index of each in
	// d.Rules (cluster's, then local's).
	var buf [2 * maxTied]*compiledRule
	var abuf [2 * maxTied]int
	part, at := buf[:0], abuf[:0]
	for i, r := range cluster {
		if !r.delegate {
			part, at = append(part, r), append(at, i)
		}
	}
	for i, r := range local {
		part, at = append(part, r), append(at, len(cluster)+i)
	}
	var dbuf [2 * maxTied]Decision
	ds := dbuf[:0]
	for _, r := range part {
		d := e.decide(ctx, sel, r, base)
		if !d.Allowed && g.first != nil && r.unit != nil && r.unit.ref.Namespace != "" {
			// The delegation is not met either.
			d.Mode = stricter(d.Mode, g.mode)
		}
		ds = append(ds, d)
		if !d.Allowed && d.Mode == ModeEnforce {
			break // nothing can make it stricter
		}
	}
	d := base
	d.Rules = appendResults(appendResults(nil, cluster), local)
	d.Pinning = pinningOf(e.pinning, cluster, local)
	d.Allowed, d.Mutate = true, true
	deciding := -1
	var digests []string
	var allowedBy, deniedBy []string
	verified, cached := false, true
	for i, di := range ds {
		rr := &d.Rules[at[i]]
		rr.Allowed, rr.Outcome, rr.Mode = di.Allowed, di.Outcome, di.Mode
		d.Mutate = d.Mutate && di.Mutate
		if di.Digest != "" && !slices.Contains(digests, di.Digest) {
			digests = append(digests, di.Digest)
		}
		for _, s := range di.Signers {
			if !slices.Contains(d.Signers, s) {
				d.Signers = append(d.Signers, s)
			}
		}
		d.Checks = append(d.Checks, di.Checks...)
		d.Attestations = append(d.Attestations, di.Attestations...)
		d.Platforms = append(d.Platforms, di.Platforms...)
		if di.Outcome != verify.Static {
			cached = cached && di.Cached
		}
		if di.Allowed {
			verified = verified || di.Outcome == verify.Verified
			allowedBy = append(allowedBy, di.Reason)
			continue
		}
		deniedBy = append(deniedBy, di.Reason)
		if deciding < 0 || worse(di, ds[deciding]) {
			deciding = i
		}
	}
	switch {
	case deciding >= 0:
		d.Allowed, d.Pinned = false, ""
		dd := ds[deciding]
		d.Outcome, d.Rule, d.Validator, d.RuleHash = dd.Outcome, dd.Rule, dd.Validator, dd.RuleHash
		d.Mode = ModeAudit
		for _, di := range ds {
			if !di.Allowed {
				d.Mode = stricter(d.Mode, di.Mode)
			}
		}
		d.Digest = cmp.Or(dd.Digest, d.Digest)
		d.Reason = strings.Join(deniedBy, "; ")
		if len(allowedBy) > 0 {
			d.Reason += " (allowed by the other rules that apply: " + strings.Join(allowedBy, "; ") + ")"
		}
	case len(digests) > 1:
		// Only resolvers that disagree (a Notary server's signed trust
		// data and the registry) give two digests for one reference.
		d.Allowed, d.Outcome = false, verify.Failed
		d.Rule, d.Validator, d.RuleHash, d.Mode = ds[0].Rule, ds[0].Validator, ds[0].RuleHash, ds[0].Mode
		for _, di := range ds {
			d.Mode = stricter(d.Mode, di.Mode)
		}
		d.Reason = fmt.Sprintf("the rules that apply verified different digests for %s (%s): %s", d.Reference, strings.Join(digests, ", "), strings.Join(allowedBy, "; "))
	default:
		first := ds[0]
		d.Rule, d.Validator, d.RuleHash, d.Mode = first.Rule, first.Validator, first.RuleHash, first.Mode
		for _, di := range ds {
			d.Mode = stricter(d.Mode, di.Mode)
		}
		d.Outcome, d.Cached = verify.Static, cached
		if verified {
			d.Outcome = verify.Verified
		}
		if len(digests) == 1 {
			d.Digest = digests[0]
			d.Pinned = sel.ref.Pinned(d.Digest)
		}
		d.Reason = strings.Join(allowedBy, "; ")
		if len(ds) > 1 {
			d.Reason = "allowed by every rule that applies: " + d.Reason
		}
	}
	if g.first != nil {
		d.Reason += fmt.Sprintf("; %s delegates the image to the namespace's ImagePolicies", g.where)
		d.Mutate = d.Mutate && g.mutate
		// The delegation is met when every rule of the namespace was
		// checked and allowed.
		met := len(ds) == len(part) && !slices.ContainsFunc(ds[len(part)-len(local):], func(x Decision) bool { return !x.Allowed })
		for i, r := range cluster {
			if r.delegate {
				d.Rules[i].Allowed = met
			}
		}
	}
	if !d.Mutate {
		d.Pinned = ""
	}
	return d
}

// worse reports whether denial a decides over denial b: the stricter
// mode, then failed (a verdict) over static over inconclusive.
func worse(a, b Decision) bool {
	if ra, rb := modeRank(a.Mode), modeRank(b.Mode); ra != rb {
		return ra > rb
	}
	rank := func(o verify.Outcome) int {
		switch o {
		case verify.Failed:
			return 2
		case verify.Static:
			return 1
		}
		return 0
	}
	return rank(a.Outcome) > rank(b.Outcome)
}

// objectOf returns the object of r; a rule of an engine from Compile has
// none.
func objectOf(r *compiledRule) ObjectRef {
	if r.unit == nil {
		return ObjectRef{}
	}
	return r.unit.ref
}

// appendResults lists rules in out, without verdicts yet.
func appendResults(out []RuleResult, rules []*compiledRule) []RuleResult {
	for _, r := range rules {
		out = append(out, RuleResult{Object: objectOf(r), Rule: r.pattern.String(), Validator: r.validator, Mode: r.mode})
	}
	return out
}

// pinningOf returns the pinning of the objects of the rules that took
// part: the one that rewrites least (a namespace's is always all).
func pinningOf(def string, cluster, local []*compiledRule) string {
	p := ""
	for _, rules := range [2][]*compiledRule{cluster, local} {
		for _, r := range rules {
			if r.unit != nil {
				p = lessPinning(cmp.Or(p, r.unit.pinning), r.unit.pinning)
			}
		}
	}
	return cmp.Or(p, def)
}

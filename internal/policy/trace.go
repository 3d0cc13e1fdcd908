package policy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/imageref"
)

// Trace is the whole of one decision as the engine made it, recorded by
// Explain for people (signet explain): what the reference normalises to,
// every rule whose pattern matched it and why the one that decides won,
// what the tag names and who said so, each rule's verification with every
// check its verifiers made, and the decision. It is recorded by the code
// that decides, as it decides: nothing here is worked out again for
// display. Evaluate and EvaluateFor record nothing.
type Trace struct {
	// Image is the reference as given.
	Image string `json:"image"`
	// Namespace is the workload's namespace whose ImagePolicies took
	// part ("" for the cluster policy alone).
	Namespace string `json:"namespace,omitempty"`
	// Reference is the reference normalised; nil when it does not parse.
	Reference *TraceReference `json:"reference,omitempty"`
	// Rules lists every rule whose pattern matches the reference, the
	// cluster's most specific first, then each namespaced ImagePolicy's.
	Rules []TraceRule `json:"rules"`
	// Digests lists what the tag names to each resolver asked (the
	// registry, a Notary v1 validator's signed trust data), or the digest
	// the reference gives.
	Digests []TraceDigest `json:"digests,omitempty"`
	// Verifications lists the verdict of each rule that decided, in the
	// order they were checked.
	Verifications []TraceVerification `json:"verifications,omitempty"`
	// Decision is the decision, as Evaluate or EvaluateFor returns it.
	Decision Decision `json:"decision"`

	// ruledOut are the matching rules the tag's digest ruled out, with
	// why.
	ruledOut []ruledOut
}

type ruledOut struct {
	rule *compiledRule
	why  string
}

// TraceReference is a reference's parts, normalised.
type TraceReference struct {
	Normalised string `json:"normalised"`
	Registry   string `json:"registry"`
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
}

// TraceRule is one rule whose pattern matches the reference.
type TraceRule struct {
	// Object is the rule's policy object (an engine from CompileSet).
	Object *ObjectRef `json:"object,omitempty"`
	// Pattern as written and Normalised, and the rule's Validator.
	Pattern    string `json:"pattern"`
	Normalised string `json:"normalised"`
	Validator  string `json:"validator"`
	// Specificity is what ranks the pattern (docs/policy.md, "Which rule
	// applies").
	Specificity Specificity `json:"specificity"`
	// Chosen is true for a rule that decides (several when equally
	// specific rules of several objects, or a namespace's, take part).
	Chosen bool `json:"chosen"`
	// Why says why the rule was chosen or not.
	Why string `json:"why"`
}

// Specificity is what the engine ranks patterns by, in order: naming a
// digest, the number of path components, then the literal prefix (before
// the first wildcard) of each component from the left, then each
// component's length.
type Specificity struct {
	Digest          bool  `json:"digest"`
	Components      int   `json:"components"`
	LiteralPrefixes []int `json:"literalPrefixes"`
}

// TraceDigest is the digest a resolver gave for the reference.
type TraceDigest struct {
	// Resolver is "registry" or the validator whose signed trust data
	// maps tags (Notary v1).
	Resolver string `json:"resolver"`
	// Source is where the digest came from: DigestFromReference,
	// DigestFromRegistry, DigestFromCache or DigestFromTrustData.
	Source string `json:"source"`
	Digest string `json:"digest,omitempty"`
	// Error says why it could not be learnt.
	Error string `json:"error,omitempty"`
}

// Where a digest came from (TraceDigest.Source).
const (
	DigestFromReference = "reference"
	DigestFromRegistry  = "registry"
	DigestFromCache     = "cache"
	DigestFromTrustData = "trust data"
)

// TraceVerification is one rule's own decision on the image, as the
// engine made it before combining the rules that take part (its fields
// are the Decision's in JSON).
type TraceVerification struct {
	// Object is the rule's policy object (an engine from CompileSet).
	Object *ObjectRef `json:"object,omitempty"`
	// Type is the validator's type; "" when the rule names several.
	Type string `json:"type,omitempty"`
	Decision
}

// Explain decides image as EvaluateFor does (Evaluate for an engine from
// Compile, which has no namespaces) and records the whole decision.
func (e *Engine) Explain(ctx context.Context, namespace, image string) *Trace {
	t := &Trace{Image: image, Namespace: namespace, Rules: []TraceRule{}}
	if e.set != nil {
		t.Decision = e.evaluateFor(ctx, namespace, image, t)
	} else {
		t.Namespace = ""
		t.Decision = e.evaluate(ctx, image, t)
	}
	return t
}

// reference records the parsed reference.
func (t *Trace) reference(ref imageref.Ref) {
	reg := ref.Registry()
	t.Reference = &TraceReference{Normalised: ref.String(), Registry: reg,
		Repository: strings.TrimPrefix(ref.Name(), reg+"/"), Tag: ref.Tag, Digest: ref.Digest}
}

// ruleOut records that what the tag names ruled r out.
func (t *Trace) ruleOut(r *compiledRule, tagDigest, runs string) {
	var why string
	switch {
	case r.pattern.tag != nil && tagDigest == "":
		why = fmt.Sprintf("names a tag, and tag %q names nothing", t.Reference.Tag)
	case r.pattern.tag != nil && tagDigest != runs:
		why = fmt.Sprintf("names a tag, and tag %q names %s, not the digest that runs (%s)", t.Reference.Tag, tagDigest, runs)
	default:
		why = fmt.Sprintf("names digest %s, and %s runs", r.pattern.digest, cmp.Or(runs, "nothing the tag names"))
	}
	t.ruledOut = append(t.ruledOut, ruledOut{rule: r, why: why})
}

// choice records every rule of rules whose pattern matches ref, and why
// each of chosen won and the others did not; err is why the choice could
// not be made.
func (t *Trace) choice(ref imageref.Ref, rules, chosen []*compiledRule, err error) {
	name := ref.Name()
	for _, r := range rules {
		if !r.pattern.match(name, ref.Tag, ref.Digest) {
			continue
		}
		tr := TraceRule{Object: objectPtr(r), Pattern: r.pattern.String(), Normalised: r.pattern.Normalised(),
			Validator: r.validator, Specificity: r.pattern.rankedBy()}
		tr.Chosen, tr.Why = t.why(r, chosen, err)
		t.Rules = append(t.Rules, tr)
	}
}

// why says why r was chosen or not, among chosen.
func (t *Trace) why(r *compiledRule, chosen []*compiledRule, err error) (bool, string) {
	if i := slices.Index(chosen, r); i == 0 {
		if len(chosen) > 1 {
			return true, "the most specific pattern that applies; the equally specific rules of other objects take part too, and all must allow"
		}
		return true, "the most specific pattern that applies"
	} else if i > 0 {
		return true, fmt.Sprintf("as specific as %q, in another policy object: rules of several objects that tie must all allow", chosen[0].pattern.String())
	}
	for _, o := range t.ruledOut {
		if o.rule == r {
			return false, "does not apply to the content that runs: " + o.why
		}
	}
	if len(chosen) == 0 {
		if err != nil {
			return false, "not decided: which rule applies could not be learnt: " + err.Error()
		}
		return false, "not chosen"
	}
	c, by := r.pattern.rank(chosen[0].pattern)
	switch {
	case c < 0:
		return false, fmt.Sprintf("less specific than %q: %s", chosen[0].pattern.String(), by)
	case c == 0 && r.unit != nil && chosenFrom(chosen, r.unit):
		return false, fmt.Sprintf("as specific as %q of the same policy object, which comes first: within one object the first rule wins", chosen[0].pattern.String())
	case c == 0:
		return false, fmt.Sprintf("as specific as %q, which sorts first by its text (ties within one policy are broken so)", chosen[0].pattern.String())
	}
	return false, "not chosen"
}

// digest records what a resolver said the tag names.
func (t *Trace) digest(by *compiledRule, source string, d name.Digest, err error) {
	td := TraceDigest{Resolver: DigestFromRegistry, Source: source}
	if by != nil {
		td.Resolver = fmt.Sprintf("validator %q (signed trust data)", by.validator)
	}
	if err != nil {
		td.Error = err.Error()
	} else {
		td.Digest = d.DigestStr()
	}
	if !slices.Contains(t.Digests, td) { // each rule checks a digest the reference gives
		t.Digests = append(t.Digests, td)
	}
}

// verified records rule's own decision d.
func (t *Trace) verified(rule *compiledRule, d Decision) {
	t.Verifications = append(t.Verifications, TraceVerification{Object: objectPtr(rule), Type: rule.vtype, Decision: d})
}

// objectPtr returns r's object, nil for a rule of an engine from Compile.
func objectPtr(r *compiledRule) *ObjectRef {
	if r.unit == nil {
		return nil
	}
	o := r.unit.ref
	return &o
}

// resolveTraced is the engine's tag resolution by the registry, saying
// whether the answer came from the cache.
func (e *Engine) resolveTraced(ctx context.Context, ref imageref.Ref) (name.Digest, string, error) {
	cr, ok := e.reg.(cachedRegistry)
	if !ok {
		d, err := e.reg.Resolve(ctx, ref)
		return d, DigestFromRegistry, err
	}
	asked := false
	d, err := cr.c.Resolve(ctx, ref.Access(), func(ctx context.Context) (name.Digest, error) {
		asked = true
		return cr.Registry.Resolve(ctx, ref)
	})
	if asked || err != nil {
		return d, DigestFromRegistry, err
	}
	return d, DigestFromCache, nil
}

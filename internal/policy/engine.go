package policy

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/workload"
)

// Engine is a compiled policy. It is immutable and safe for concurrent use.
type Engine struct {
	name    string
	rules   []*compiledRule // most specific first
	reg     Registry
	mode    string
	pinning string
	// insecure are the registries reached over plain HTTP
	// (insecureRegistries), carried into each evaluation's context.
	insecure     *registry.Insecure
	insecureList []string
	// set holds the objects of an engine from CompileSet; nil for one
	// from Compile.
	set *objectSet
	// resources are the declared kinds beyond the built-in ones
	// (spec.resources), by group/version/kind.
	resources map[string]*workload.Resource
	// indexes remembers what image indexes list (with.platforms).
	indexes *indexListings
	// generation and hash identify the policy in force (Stamped).
	generation int64
	hash       string
}

// InsecureRegistries returns the registries the policy lets signet reach
// over plain HTTP.
func (e *Engine) InsecureRegistries() []string { return e.insecureList }

// Pinning returns the policy's pinning mode: all, podsOnly or none.
func (e *Engine) Pinning() string { return e.pinning }

// Name returns the policy's metadata.name.
func (e *Engine) Name() string { return e.name }

// Decision is the verdict on one image reference.
type Decision struct {
	// Image is the reference as given.
	Image string `json:"image"`
	// Reference is the normalised reference.
	Reference string `json:"reference,omitempty"`
	// Digest is the digest that was verified.
	Digest string `json:"digest,omitempty"`
	// Pinned is repository@digest, set when the image is allowed and its
	// digest is known: what an admission controller rewrites the image to.
	Pinned string `json:"pinned,omitempty"`
	// Allowed says whether the image may run.
	Allowed bool `json:"allowed"`
	// Outcome is verified, failed, inconclusive or static.
	Outcome verify.Outcome `json:"outcome"`
	// Rule is the pattern of the rule that matched.
	Rule string `json:"rule,omitempty"`
	// Validator is the validator the rule named.
	Validator string `json:"validator,omitempty"`
	// Reason explains the decision.
	Reason string `json:"reason"`
	// Signers lists the trust roots counted toward the quorum, each with a
	// signer of its own.
	Signers []string `json:"signers,omitempty"`
	// Attestations lists the outcome of each attestation requirement of
	// the rule.
	Attestations []verify.AttestationResult `json:"attestations,omitempty"`
	// Checks lists every check made.
	Checks []verify.Check `json:"checks"`
	// Platforms lists, under with.platforms all or any-of for an image
	// index, the verification of each manifest checked (the index's
	// among them under all); Checks, Signers and Attestations merge
	// theirs.
	Platforms []PlatformResult `json:"platforms,omitempty"`
	// Mode is what admission does with a denial: enforce, warn or audit.
	Mode string `json:"mode"`
	// Cached is true when the verification result was remembered rather
	// than made now.
	Cached bool `json:"cached,omitempty"`
	// Mutate is false when the rule asks not to pin.
	Mutate bool `json:"-"`
	// RuleHash identifies the compiled rule (rule plus validator).
	RuleHash string `json:"-"`
	// Rules lists, in an engine from CompileSet, every rule that took
	// part in the decision, with its object and its own verdict; Rule,
	// Validator and RuleHash are those of the rule that decided (the
	// first that denied, else the most specific).
	Rules []RuleResult `json:"rules,omitempty"`
	// Pinning is, in an engine from CompileSet, the pinning mode of the
	// objects whose rules took part (the one that rewrites least);
	// "" means Engine.Pinning.
	Pinning string `json:"-"`
}

// Match returns the pattern and validator of the rule that applies to ref
// when that is known without asking what ref's tag names, and false when no
// rule matches or the choice depends on the tag (Evaluate resolves it).
func (e *Engine) Match(ref imageref.Ref) (pattern, validator string, ok bool) {
	name := ref.Name()
	for _, r := range e.rules {
		if r.pattern.match(name, ref.Tag, ref.Digest) {
			if r.pattern.dependsOnTag(ref.Digest) {
				return "", "", false
			}
			return r.pattern.String(), r.validator, true
		}
	}
	return "", "", false
}

// Evaluate decides whether image may run: it finds the most specific rule
// that applies to the content that runs (resolving the tag first when that
// depends on it), resolves the tag to a digest, and verifies that digest. The caller bounds
// the time spent with ctx's deadline; running out of time is inconclusive.
// Evaluate never panics: a panic in a verifier becomes an inconclusive
// denial.
func (e *Engine) Evaluate(ctx context.Context, image string) Decision {
	return e.evaluate(ctx, image, nil)
}

// evaluate is Evaluate, recording the decision in t when not nil.
func (e *Engine) evaluate(ctx context.Context, image string, t *Trace) (d Decision) {
	if e.set != nil {
		return e.evaluateFor(ctx, "", image, t)
	}
	d = Decision{Image: image, Outcome: verify.Failed, Checks: []verify.Check{}, Mode: e.mode}
	defer recoverDecision(&d, image)
	ctx, sel, ok := e.begin(ctx, &d, t)
	if !ok {
		return d
	}
	rule, err := sel.choose(ctx)
	if t != nil {
		var chosen []*compiledRule
		if rule != nil {
			chosen = []*compiledRule{rule}
		}
		t.choice(sel.ref, e.rules, chosen, err)
	}
	if err != nil {
		d.Outcome = classify(ctx, err)
		d.Reason = fmt.Sprintf("which rule applies to %s depends on what its tag names: %v", d.Reference, err)
		return d
	}
	if rule == nil {
		d.Reason = fmt.Sprintf("no policy rule matches %s; images are denied unless a rule's pattern matches them", d.Reference)
		return d
	}
	return e.decide(ctx, &sel, rule, d)
}

// begin starts deciding d.Image: the evaluation's context, and the
// selection of the rules for the parsed reference; false when it does not
// parse (d says why). t, when not nil, records the decision.
func (e *Engine) begin(ctx context.Context, d *Decision, t *Trace) (context.Context, selection, bool) {
	ctx = registry.ContextWithInsecure(ctx, e.insecure)
	ref, err := imageref.Parse(d.Image)
	if err != nil {
		d.Reason = err.Error()
		return ctx, selection{}, false
	}
	d.Reference = ref.String()
	d.Digest = ref.Digest
	if t != nil {
		t.reference(ref)
	}
	return ctx, selection{e: e, ref: ref, trace: t}, true
}

// recoverDecision turns a panic while deciding image into an inconclusive
// denial in d.
func recoverDecision(d *Decision, image string) {
	if r := recover(); r != nil {
		d.Allowed, d.Pinned = false, ""
		d.Outcome = verify.Inconclusive
		d.Reason = fmt.Sprintf("internal error while verifying %s: %v", image, r)
	}
}

// decide completes d, the decision on sel's reference, by rule.
func (e *Engine) decide(ctx context.Context, sel *selection, rule *compiledRule, d Decision) Decision {
	d = e.decideBy(ctx, sel, rule, d)
	if sel.trace != nil {
		sel.trace.verified(rule, d)
	}
	return d
}

// decideBy is decide.
func (e *Engine) decideBy(ctx context.Context, sel *selection, rule *compiledRule, d Decision) Decision {
	ref := sel.ref
	d.Rule, d.Validator = rule.pattern.String(), rule.validator
	d.Mode, d.Mutate, d.RuleHash = rule.mode, rule.mutate, rule.hash
	where := rule.where
	if rule.delegate {
		d.Reason = where + " delegates the images it matches to the ImagePolicies of the workload's namespace, and none were consulted (a policy file alone has none)"
		return d
	}

	if rule.vtype == TypeStatic {
		// Static rules decide without the network: the image is not
		// resolved, and is pinned only when it names a digest — unless
		// choosing the rule needed what the tag names, and then the
		// decision holds for that digest only, so it is pinned to it.
		_, err := rule.verifier.Verify(ctx, verify.Image{})
		d.Outcome = verify.Static
		d.Allowed = err == nil
		if !d.Allowed {
			d.Reason = "denied by static " + where
			return d
		}
		d.Reason = "allowed by static " + where
		if ref.Digest == "" && sel.resolved() {
			digest, err := sel.tagDigest(ctx, rule)
			if err != nil {
				d.Allowed, d.Outcome = false, classify(ctx, err)
				d.Reason = fmt.Sprintf("allowed by static %s only for some digests, and what the tag names could not be learnt: %v", where, err)
				return d
			}
			d.Digest = digest.DigestStr()
		}
		if d.Digest != "" {
			d.Pinned = ref.Pinned(d.Digest)
		}
		return d
	}

	// A verifier whose signed trust data maps tags (Notary v1) resolves
	// them itself: the digest is the signers', not the registry's; it also
	// checks that the tag of a tag@digest signs that digest.
	var digest name.Digest
	var err error
	tr, resolves := rule.verifier.(verify.TagResolver)
	switch {
	case ref.Digest == "":
		digest, err = sel.tagDigest(ctx, rule)
	case resolves:
		digest, err = tr.ResolveTag(ctx, ref)
	default:
		digest, err = e.reg.Resolve(ctx, ref)
	}
	if sel.trace != nil && ref.Digest != "" {
		by, source := (*compiledRule)(nil), DigestFromReference
		if resolves {
			by = rule
		}
		sel.trace.digest(by, source, digest, err)
	}
	if err != nil {
		d.Outcome = classify(ctx, err)
		d.Reason = fmt.Sprintf("%s: %v", where, err)
		return d
	}
	d.Digest = digest.DigestStr()
	res, err := e.verifyDigest(ctx, rule, digest, ref.Tag, &d)
	if res != nil {
		d.Signers, d.Cached, d.Attestations = res.Signers, res.Cached, res.Attestations
		if res.Checks != nil {
			d.Checks = res.Checks
		}
	}
	d.Outcome = verify.Classify(err)
	if ctx.Err() != nil && d.Outcome != verify.Verified {
		d.Outcome = verify.Inconclusive
	}
	switch d.Outcome {
	case verify.Verified:
		d.Allowed = true
		d.Pinned = ref.Pinned(d.Digest)
		d.Reason = "verified by " + where + ": signed by [" + strings.Join(d.Signers, ", ") + "]"
		if len(d.Attestations) > 0 {
			names := make([]string, len(d.Attestations))
			for i, a := range d.Attestations {
				names[i] = a.Name
			}
			d.Reason += "; attestations [" + strings.Join(names, ", ") + "] met"
		}
		if len(d.Platforms) > 0 {
			d.Reason += "; manifests verified: " + platformNames(d.Platforms)
		}
	case verify.Failed:
		d.Reason = fmt.Sprintf("%s: %v", where, err)
	default:
		d.Reason = fmt.Sprintf("%s: could not be verified (retry later; not a verdict on the image): %v", where, err)
	}
	return d
}

// verifyDigest verifies digest by rule: digest itself, or the manifests
// of the index it names that with.platforms selects (d.Platforms records
// each). Pinning is unaffected: the decision's digest stays the one the
// reference names.
func (e *Engine) verifyDigest(ctx context.Context, rule *compiledRule, digest name.Digest, tag string, d *Decision) (*verify.Result, error) {
	if !rule.platforms.selects() {
		// The default (index): nothing allocated on the admission path.
		return rule.verifier.Verify(ctx, verify.Image{Ref: digest, Tag: tag})
	}
	targets, err := e.targets(ctx, rule, digest)
	if err != nil {
		return nil, err
	}
	if len(targets) == 1 && targets[0].platform == "" {
		return rule.verifier.Verify(ctx, verify.Image{Ref: digest, Tag: tag})
	}
	res, prs, err := verifyPlatforms(ctx, rule, targets, tag)
	d.Platforms = prs
	return res, err
}

// classify is verify.Classify, and inconclusive whatever the error once
// ctx is done.
func classify(ctx context.Context, err error) verify.Outcome {
	if ctx.Err() != nil {
		return verify.Inconclusive
	}
	return verify.Classify(err)
}

// cachedRegistry resolves tags through the cache.
type cachedRegistry struct {
	Registry
	c *cache.Cache
}

func (r cachedRegistry) Resolve(ctx context.Context, ref imageref.Ref) (name.Digest, error) {
	if ref.Digest != "" {
		return r.Registry.Resolve(ctx, ref)
	}
	// Keyed by where the tag is read: spellings of one registry share rules,
	// but an answer from one port is not reused for another.
	return r.c.Resolve(ctx, ref.Access(), func(ctx context.Context) (name.Digest, error) { return r.Registry.Resolve(ctx, ref) })
}

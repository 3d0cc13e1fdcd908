package policy

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/verify"
)

// selection chooses the rule that applies to one reference: the most
// specific rule whose pattern applies to the content that will run
// (docs/policy.md, "Which rule applies"). Patterns are matched on the
// reference's parts — normalised repository, tag, digest — and a pattern
// whose applicability depends on what the tag names (a tag pattern for
// tag@digest, a digest pattern for a tag) has the tag resolved, once per
// resolver and evaluation. When no candidate depends on the tag, nothing
// is resolved to choose: a static rule decides without the network.
type selection struct {
	e   *Engine
	ref imageref.Ref
	// res holds what the tag names, per resolver (n of them; rarely more
	// than one, the registry): kept in the selection, which lives on the
	// stack, so that a cached admission allocates nothing more for it.
	res [1]tagResolution
	n   int
	// more holds the resolutions beyond len(res).
	more []tagResolution
	// trace records the decision when not nil (Engine.Explain).
	trace *Trace
}

// tagResolution is what ref's tag names to one resolver: the registry (by
// nil) or the signed trust data of a rule whose verifier resolves tags.
type tagResolution struct {
	by     *compiledRule
	digest name.Digest
	err    error
}

// resolverOf returns who says what a tag names for r: r itself when its
// verifier resolves tags from signed trust data (Notary v1), nil for the
// registry.
func resolverOf(r *compiledRule) *compiledRule {
	if _, ok := r.verifier.(verify.TagResolver); ok {
		return r
	}
	return nil
}

// resolved reports whether choosing needed what the tag names.
func (s *selection) resolved() bool { return s.n > 0 }

// tagDigest returns what the reference's tag names to r's resolver.
func (s *selection) tagDigest(ctx context.Context, r *compiledRule) (name.Digest, error) {
	by := resolverOf(r)
	for _, t := range s.res[:min(s.n, len(s.res))] {
		if t.by == by {
			return t.digest, t.err
		}
	}
	for _, t := range s.more {
		if t.by == by {
			return t.digest, t.err
		}
	}
	ref := s.ref.WithoutDigest()
	var t tagResolution
	t.by = by
	switch {
	case by != nil:
		t.digest, t.err = by.verifier.(verify.TagResolver).ResolveTag(ctx, ref)
		if s.trace != nil {
			s.trace.digest(by, DigestFromTrustData, t.digest, t.err)
		}
	case s.trace != nil:
		var source string
		t.digest, source, t.err = s.e.resolveTraced(ctx, ref)
		s.trace.digest(nil, source, t.digest, t.err)
	default:
		t.digest, t.err = s.e.reg.Resolve(ctx, ref)
	}
	if s.n < len(s.res) {
		s.res[s.n] = t
	} else {
		s.more = append(s.more, t)
	}
	s.n++
	return t.digest, t.err
}

// facts returns, for rule r, what the tag names to r's resolver ("" when
// nothing: the tag does not exist or is not signed) and the digest that
// runs when r's resolver is believed. An error means it cannot be known.
func (s *selection) facts(ctx context.Context, r *compiledRule) (tagDigest, runs string, err error) {
	d, err := s.tagDigest(ctx, r)
	switch {
	case err == nil:
		tagDigest = d.DigestStr()
	case ctx.Err() != nil || verify.Classify(err) != verify.Failed:
		return "", "", err
	}
	if s.ref.Digest != "" {
		return tagDigest, s.ref.Digest, nil
	}
	return tagDigest, tagDigest, nil
}

// choose returns the rule that applies, nil when none does. An error means
// which rule applies depends on what the tag names and that could not be
// learnt (inconclusive), or that resolvers disagree about it in a way that
// changes the rule (failed).
func (s *selection) choose(ctx context.Context) (*compiledRule, error) {
	var buf [1]*compiledRule
	chosen, err := s.chooseIn(ctx, s.e.rules, false, buf[:0])
	if err != nil || len(chosen) == 0 {
		return nil, err
	}
	return chosen[0], nil
}

// chooseIn appends to out the first rule of rules (most specific first)
// that applies and, with ties, every later rule as specific as it that
// applies and belongs to an object none of the chosen rules belongs to:
// within one object the first rule wins, as in a file; across objects
// tied rules must all allow.
func (s *selection) chooseIn(ctx context.Context, rules []*compiledRule, ties bool, out []*compiledRule) ([]*compiledRule, error) {
	var ruledOut []*compiledRule // by what the tag names
	name, tag, digest := s.ref.Name(), s.ref.Tag, s.ref.Digest
	first := len(out)
	for _, r := range rules {
		if len(out) > first && (!ties || r.pattern.specificity(out[first].pattern) != 0) {
			break
		}
		if !r.pattern.match(name, tag, digest) || chosenFrom(out[first:], r.unit) {
			continue
		}
		if r.pattern.dependsOnTag(digest) {
			tagDigest, runs, err := s.facts(ctx, r)
			if err != nil {
				return out[:first], err
			}
			if !r.pattern.appliesTo(tagDigest, runs) {
				if s.trace != nil {
					s.trace.ruleOut(r, tagDigest, runs)
				}
				ruledOut = append(ruledOut, r)
				continue
			}
		}
		if err := s.consistent(ctx, r, ruledOut); err != nil {
			return out[:first], err
		}
		out = append(out, r)
	}
	return out, nil
}

// chosenFrom reports whether a rule of u is among chosen.
func chosenFrom(chosen []*compiledRule, u *Unit) bool {
	for _, c := range chosen {
		if c.unit == u {
			return true
		}
	}
	return false
}

// consistent checks the choice of r against the more specific rules that
// were ruled out by what the tag names to their resolver: where r's
// resolver says otherwise (the registry and a Notary server's signed trust
// data disagree), the content that runs under r could be theirs.
func (s *selection) consistent(ctx context.Context, r *compiledRule, ruledOut []*compiledRule) error {
	for _, c := range ruledOut {
		if resolverOf(c) == resolverOf(r) {
			continue // the same answer ruled c out
		}
		_, runs, err := s.facts(ctx, r)
		if err != nil {
			return err
		}
		tagDigest, _, err := s.facts(ctx, c)
		if err != nil {
			return err
		}
		if c.pattern.appliesTo(tagDigest, runs) {
			return verify.Failf("the registry and the signed trust data disagree on what tag %q names, and a different rule applies to each answer: %s, %s",
				s.ref.Tag, c.where, r.where)
		}
	}
	return nil
}

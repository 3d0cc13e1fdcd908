package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/imageref"
)

// Named is a verifier with the name of the validator it came from.
type Named struct {
	Name     string
	Verifier Verifier
}

// All returns a Verifier that passes only when every member passes: a rule
// naming several validators ("cosign AND notation"). Members run in order
// and all of them run, so a denial lists every shortfall. A definitive
// failure of any member is a failure; otherwise an inconclusive member makes
// the whole inconclusive. Trust roots in the merged result are qualified
// with the validator's name ("notary/release").
//
// When members are TagResolvers, so is the result: every resolving member
// must map the reference to the same digest.
func All(members ...Named) Verifier {
	a := all(members)
	for _, m := range members {
		if _, ok := m.Verifier.(TagResolver); ok {
			return allResolver{a}
		}
	}
	return a
}

type all []Named

type allResolver struct{ all }

// ResolveTag implements TagResolver: every member that resolves tags must
// agree on the digest.
func (a allResolver) ResolveTag(ctx context.Context, ref imageref.Ref) (name.Digest, error) {
	var got name.Digest
	from := ""
	for _, m := range a.all {
		tr, ok := m.Verifier.(TagResolver)
		if !ok {
			continue
		}
		d, err := tr.ResolveTag(ctx, ref)
		if err != nil {
			return name.Digest{}, fmt.Errorf("validator %s: %w", m.Name, err)
		}
		if from != "" && d.DigestStr() != got.DigestStr() {
			return name.Digest{}, Failf("validators %s and %s resolve %s to different digests (%s, %s)",
				from, m.Name, ref.String(), got.DigestStr(), d.DigestStr())
		}
		got, from = d, m.Name
	}
	return got, nil
}

// Verify implements Verifier.
func (a all) Verify(ctx context.Context, img Image) (*Result, error) {
	res := &Result{}
	var failed, inconclusive []string
	var errs []error
	for _, m := range a {
		r, err := m.Verifier.Verify(ctx, img)
		if r != nil {
			for _, s := range r.Signers {
				res.Signers = append(res.Signers, m.Name+"/"+s)
			}
			for _, c := range r.Checks {
				if c.TrustRoot != "" {
					c.TrustRoot = m.Name + "/" + c.TrustRoot
				} else {
					c.TrustRoot = m.Name + "/"
				}
				res.Checks = append(res.Checks, c)
			}
		}
		switch Classify(err) {
		case Verified:
			continue
		case Failed:
			failed = append(failed, "validator "+m.Name+": "+err.Error())
		default:
			inconclusive = append(inconclusive, "validator "+m.Name+": "+err.Error())
		}
		errs = append(errs, err)
	}
	switch {
	case len(failed) > 0:
		return res, &FailedError{Reason: strings.Join(append(failed, inconclusive...), "; "), Err: errors.Join(errs...)}
	case len(inconclusive) > 0:
		return res, &InconclusiveError{Reason: strings.Join(inconclusive, "; "), Err: errors.Join(errs...)}
	}
	return res, nil
}

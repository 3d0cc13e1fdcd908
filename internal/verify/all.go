package verify

import (
	"context"
	"errors"
	"strings"
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
func All(members ...Named) Verifier {
	return Func(func(ctx context.Context, img Image) (*Result, error) {
		res := &Result{}
		var failed, inconclusive []string
		var errs []error
		for _, m := range members {
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
	})
}

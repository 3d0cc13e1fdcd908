package admission

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/workload"
)

// ErrNoPolicy is returned by Decide while no policy is in force yet.
var ErrNoPolicy = errors.New(NoPolicy)

// ErrBusy is returned by Decide when none of the Options.MaxReviews slots
// came free before ctx's deadline.
var ErrBusy = errors.New("signet was reviewing as many requests as it may at once, and none finished before this one's deadline; retry later")

// Decide evaluates refs, each distinct reference once, under the policy in
// force for a workload of namespace ("" for cluster-scoped rules only),
// within the same bounds as an admission: one of the Options.MaxReviews
// slots, Options.Parallelism workers, each image in one of the process's
// Options.MaxVerifications slots, the whole under ctx shortened to
// Options.Timeout. The decisions are those of the webhook (same engine,
// same cache); what they mean — modes, pinning — is the caller's. Other
// front ends than the AdmissionReview webhook (package externaldata) use
// it so the process's limits stay shared.
func (r *Reviewer) Decide(ctx context.Context, namespace string, refs []string) (map[string]policy.Decision, error) {
	eng := r.engine()
	if eng == nil {
		return nil, ErrNoPolicy
	}
	if len(refs) == 0 {
		return map[string]policy.Decision{}, nil
	}
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > r.opts.Timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.opts.Timeout)
		defer cancel()
	}
	if !take(ctx, r.reviewing) {
		return nil, fmt.Errorf("%w (limit %d)", ErrBusy, cap(r.reviewing))
	}
	defer func() { <-r.reviewing }()
	imgs := make([]workload.Image, len(refs))
	for i, ref := range refs {
		imgs[i] = workload.Image{Ref: ref}
	}
	return r.evaluate(ctx, eng, namespace, imgs), nil
}

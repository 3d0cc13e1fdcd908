package admission

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/signet-dev/signet/internal/decisionlog"
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
//
// Each call with refs is one record of the decision log (Options.Decisions),
// webhook "externaldata", with every image's decision; while
// Options.Required reports an error (--audit-required and an audit log that
// cannot be written) nothing is decided and that error is returned.
func (r *Reviewer) Decide(ctx context.Context, namespace string, refs []string) (map[string]policy.Decision, error) {
	eng := r.engine()
	if eng == nil {
		return nil, ErrNoPolicy
	}
	if len(refs) == 0 {
		return map[string]policy.Decision{}, nil
	}
	start := time.Now()
	if r.opts.Required != nil {
		if err := r.opts.Required.Err(); err != nil {
			err = fmt.Errorf("the audit log cannot be written and is required: %w", err)
			r.logDecide(eng, namespace, "denied", err.Error(), nil, time.Since(start))
			return nil, err
		}
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
	decisions := r.evaluate(ctx, eng, namespace, imgs)
	images := make([]ImageResult, 0, len(decisions))
	denied := 0
	for _, ref := range refs {
		d, ok := decisions[ref]
		if !ok {
			continue
		}
		if !d.Allowed {
			denied++
		}
		images = append(images, ImageResult{Image: ref, Digest: d.Digest, Pinned: d.Pinned, Allowed: d.Allowed,
			Outcome: string(d.Outcome), Mode: d.Mode, Rule: d.Rule, Validator: d.Validator, Reason: d.Reason})
	}
	decision, reason := "allowed", fmt.Sprintf("%d image(s) allowed", len(images))
	if denied > 0 {
		decision, reason = "denied", fmt.Sprintf("%d of %d image(s) denied", denied, len(images))
	}
	r.logDecide(eng, namespace, decision, reason, images, time.Since(start))
	return decisions, nil
}

// logDecide writes Decide's decision record.
func (r *Reviewer) logDecide(eng *policy.Engine, namespace, decision, reason string, images []ImageResult, latency time.Duration) {
	rec := &decisionlog.Record{
		Webhook: "externaldata", Namespace: namespace, Decision: decision, Reason: reason, Images: images,
		LatencyMs: float64(latency.Microseconds()) / 1000, PolicyGeneration: eng.Generation(), PolicyHash: eng.Hash(),
	}
	rec.Bound()
	r.opts.Decisions.Write(rec)
}

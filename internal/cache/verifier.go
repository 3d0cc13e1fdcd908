package cache

import (
	"context"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/verify"
)

// Wrap returns a Verifier answering from the cache. scope identifies what
// v checks (the compiled rule's hash): results are shared only between
// verifiers with the same scope. Concurrent calls for the same image share
// one verification.
// validator labels the verification latency metric.
func (c *Cache) Wrap(v verify.Verifier, scope, validator string) verify.Verifier {
	w := &cached{c: c, v: v, scope: scope, validator: validator}
	if tr, ok := v.(verify.TagResolver); ok {
		return &cachedResolver{cached: w, tr: tr}
	}
	return w
}

// cachedResolver is a cached verifier whose trust data also resolves tags
// (Notary v1): resolutions are kept for TagTTL like registry ones.
type cachedResolver struct {
	*cached
	tr verify.TagResolver
}

// ResolveTag implements verify.TagResolver.
func (w *cachedResolver) ResolveTag(ctx context.Context, ref imageref.Ref) (name.Digest, error) {
	return w.c.Resolve(ctx, w.scope+"|"+ref.String(), func(ctx context.Context) (name.Digest, error) { return w.tr.ResolveTag(ctx, ref) })
}

type cached struct {
	c         *Cache
	v         verify.Verifier
	scope     string
	validator string
}

type outcome struct {
	res *verify.Result
	err error
	// expired: the verification ran out of the deadline of the caller that
	// started it.
	expired bool
}

// Verify implements verify.Verifier.
func (w *cached) Verify(ctx context.Context, img verify.Image) (*verify.Result, error) {
	key := w.scope + "|" + img.Ref.String()
	if e, ok := w.c.get(ctx, key); ok {
		res := &verify.Result{Cached: true}
		if e.Result != nil {
			r := *e.Result
			r.Cached = true
			res = &r
		}
		return res, e.err()
	}
	for attempt := 0; ; attempt++ {
		o, leader, err := w.share(ctx, key, img)
		if err != nil {
			return &verify.Result{}, err
		}
		// A shared verification runs under the deadline of the caller
		// that started it. When that ran out, the answer is about that
		// caller's time, not the image: a joiner with time left (a
		// later deadline, or one that joined just as the verification
		// was ending) verifies again, once, under its own deadline.
		if !leader && attempt == 0 && o.expired && ctx.Err() == nil && verify.Classify(o.err) == verify.Inconclusive {
			continue
		}
		if !leader {
			w.c.cfg.Metrics.SingleflightJoin()
		}
		return o.res, o.err
	}
}

// share runs the verification of img, or joins the one running for key.
// The error is the caller's own deadline passing first.
func (w *cached) share(ctx context.Context, key string, img verify.Image) (outcome, bool, error) {
	leader := false
	// The shared verification must not end when the caller that started
	// it goes away (the others still wait) but keeps its deadline.
	ch := w.c.group.DoChan(key, func() (any, error) {
		leader = true
		vctx, cancel := detach(ctx)
		defer cancel()
		start := time.Now()
		res, err := w.v.Verify(vctx, img)
		w.c.cfg.Metrics.VerificationLatency(w.validator, time.Since(start))
		w.c.put(vctx, key, res, err)
		return outcome{res: res, err: err, expired: vctx.Err() != nil}, nil
	})
	select {
	case r := <-ch:
		return r.Val.(outcome), leader, nil
	case <-ctx.Done():
		return outcome{}, false, &verify.InconclusiveError{Reason: "verification of " + img.Ref.String() + " did not finish in time", Err: ctx.Err()}
	}
}

// err rebuilds the error of a cached result.
func (e Entry) err() error {
	if e.Outcome == verify.Failed {
		return &verify.FailedError{Reason: e.Reason}
	}
	return nil
}

// tagEntry is a cached tag resolution.
type tagEntry struct {
	digest  name.Digest
	expires time.Time
}

// Resolve returns the cached digest of ref (a normalised tag reference),
// calling resolve on a miss. Concurrent misses share one call.
func (c *Cache) Resolve(ctx context.Context, ref string, resolve func(context.Context) (name.Digest, error)) (name.Digest, error) {
	if c.cfg.TagTTL < 0 {
		return resolve(ctx)
	}
	now := c.cfg.Now()
	if e, ok := c.tags.Get(ref); ok && now.Before(e.expires) {
		c.cfg.Metrics.CacheLookup("tags", "hit")
		return e.digest, nil
	}
	// The miss resolves, and is counted, once however many callers wait.
	c.cfg.Metrics.CacheLookup("tags", "miss")
	for attempt := 0; ; attempt++ {
		leader := false
		ch := c.group.DoChan("tag|"+ref, func() (any, error) {
			leader = true
			vctx, cancel := detach(ctx)
			defer cancel()
			d, err := resolve(vctx)
			if err == nil {
				c.tags.Add(ref, tagEntry{digest: d, expires: c.cfg.Now().Add(c.cfg.TagTTL)})
			}
			return resolution{digest: d, err: err, expired: vctx.Err() != nil}, nil
		})
		select {
		case r := <-ch:
			res := r.Val.(resolution)
			// As for verifications: an answer cut short by the deadline
			// of the caller that started it says nothing about the tag;
			// a joiner with time left resolves again, once.
			if res.err != nil && res.expired && !leader && attempt == 0 && ctx.Err() == nil {
				continue
			}
			return res.digest, res.err
		case <-ctx.Done():
			return name.Digest{}, &verify.InconclusiveError{Reason: "resolving " + ref + " did not finish in time", Err: ctx.Err()}
		}
	}
}

// resolution is the outcome of one shared tag resolution.
type resolution struct {
	digest  name.Digest
	err     error
	expired bool // the starter's deadline ended it
}

// detach returns a context that keeps ctx's values and deadline but not
// its cancellation: a verification shared by several callers must not end
// because the one that started it went away.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	d := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(d, dl)
	}
	return d, func() {}
}

package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
)

// Wrap returns a Verifier answering from the cache. scope identifies what
// v checks (the compiled rule's hash): results are shared only between
// verifiers with the same scope. Concurrent calls for the same image share
// one verification.
// validator labels the verification latency metric.
func (c *Cache) Wrap(v verify.Verifier, scope, validator string) verify.Verifier {
	w := &cached{c: c, v: v, scope: scope, validator: validator}
	w.fp, _ = v.(verify.MaterialFingerprinter)
	if td, ok := v.(verify.TagDependent); ok {
		w.byTag = td.DependsOnTag()
	}
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
	fp        verify.MaterialFingerprinter // nil: all material is in the policy
	// byTag: the result may depend on the tag the image was named by
	// (verify.TagDependent), which is then part of the key.
	byTag bool
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
	// Material resolved at verification time (a key in a Secret or a KMS,
	// a trusted root file or TUF repository) is part of the key: a result
	// verified with a key since rotated out is never served. Material that
	// cannot be resolved now gets no cache at all.
	fp, fpErr := w.fingerprint(ctx)
	k := w.keys(ctx, img, fp)
	store := fpErr == nil
	if !store {
		k.own += "|unresolved"
	} else if e, ok := w.c.get(ctx, k); ok {
		res := &verify.Result{Cached: true}
		if e.Result != nil {
			r := *e.Result
			r.Cached = true
			res = &r
		}
		return res, e.err()
	}
	for attempt := 0; ; attempt++ {
		o, leader, err := w.share(ctx, k, fp, store, img)
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

// keys returns where the result of verifying img with material fp lives:
// shared by everyone when verified; for the credentials ctx carries only
// otherwise (and for joining a verification in flight).
func (w *cached) keys(ctx context.Context, img verify.Image, fp string) keys {
	shared := w.scope + "|" + img.Ref.String()
	if w.byTag {
		shared += "|t" + img.Tag
	}
	if fp != "" {
		sum := sha256.Sum256([]byte(fp))
		shared += "|m" + hex.EncodeToString(sum[:12])
	}
	return keys{shared: shared, own: shared + "|c" + registry.CredentialsID(ctx)}
}

// fingerprint identifies the material the wrapped verifier would use now
// ("" when it has none outside the policy).
func (w *cached) fingerprint(ctx context.Context) (string, error) {
	if w.fp == nil {
		return "", nil
	}
	return w.fp.MaterialFingerprint(ctx)
}

// share runs the verification of img, or joins the one running for the
// same image, material and credentials. The error is the caller's own
// deadline passing first. The result is stored when store is set and the
// material did not change while it was being verified.
func (w *cached) share(ctx context.Context, k keys, fp string, store bool, img verify.Image) (outcome, bool, error) {
	leader := false
	// The shared verification must not end when the caller that started
	// it goes away (the others still wait) but keeps its deadline.
	ch := w.c.group.DoChan(k.own, func() (any, error) {
		leader = true
		vctx, cancel := detach(ctx)
		defer cancel()
		start := time.Now()
		res, err := w.v.Verify(vctx, img)
		w.c.cfg.Metrics.VerificationLatency(w.validator, time.Since(start))
		if store {
			if now, ferr := w.fingerprint(vctx); ferr == nil && now == fp {
				w.c.put(vctx, k, res, err)
			}
		}
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
		// A failed resolution may be about who asked (a registry hiding a
		// repository from anonymous callers answers 404): callers join
		// resolutions made with their own credentials only. A digest,
		// once resolved, is shared: it is a fact about the tag, and the
		// digest is verified under the rule whoever resolved it.
		ch := c.group.DoChan("tag|"+registry.CredentialsID(ctx)+"|"+ref, func() (any, error) {
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

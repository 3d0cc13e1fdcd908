package interop

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

// TestRedisSharedCache: two signet instances (two caches) share verified
// results through a real redis-server; when it is killed they keep answering
// correctly from memory, and verify again rather than guess.
func TestRedisSharedCache(t *testing.T) {
	t.Parallel()
	srv := harness.StartRedis(t)
	var calls atomic.Int32
	inner := verify.Func(func(ctx context.Context, img verify.Image) (*verify.Result, error) {
		calls.Add(1)
		if img.Ref.Context().RepositoryStr() == "unsigned" {
			return &verify.Result{}, verify.Failf("no signatures")
		}
		return &verify.Result{Signers: []string{"ci"}}, nil
	})
	a, b := redisCached(t, srv.Host, inner), redisCached(t, srv.Host, inner)
	ref := func(repo string) verify.Image {
		d, err := name.NewDigest("reg.example/" + repo + "@sha256:" + strings.Repeat("ab", 32))
		if err != nil {
			t.Fatal(err)
		}
		return verify.Image{Ref: d}
	}
	check := func(v verify.Verifier, repo string, want verify.Outcome, wantCached bool) {
		t.Helper()
		res, err := v.Verify(context.Background(), ref(repo))
		if got := verify.Classify(err); got != want {
			t.Fatalf("%s: outcome %s, want %s (%v)", repo, got, want, err)
		}
		if res.Cached != wantCached {
			t.Errorf("%s: cached = %v, want %v", repo, res.Cached, wantCached)
		}
	}
	check(a, "signed", verify.Verified, false)
	check(a, "unsigned", verify.Failed, false)
	check(b, "signed", verify.Verified, true) // from Redis
	// Failures are not shared: one may depend on the caller's credentials
	// (a registry hiding an image from some), which mean nothing to
	// another replica.
	check(b, "unsigned", verify.Failed, false)
	if n := calls.Load(); n != 3 {
		t.Errorf("verifications = %d, want 3 (instance b answered the verified result from Redis)", n)
	}

	srv.Stop() // Redis dies mid-run
	c := redisCached(t, srv.Host, inner)
	check(c, "signed", verify.Verified, false) // nothing shared now: verified again
	check(c, "signed", verify.Verified, true)  // then from memory
	check(a, "signed", verify.Verified, true)  // a's memory layer still answers
	check(c, "unsigned", verify.Failed, false)
	if n := calls.Load(); n != 5 {
		t.Errorf("verifications = %d, want 5", n)
	}
}

// TestRedisRevalidationWithdraws: a re-verification on one replica that
// finds an image failing (its signature deleted) deletes the verified
// result shared through a real redis-server, so another replica that had
// not cached it in memory verifies again instead of admitting from Redis.
func TestRedisRevalidationWithdraws(t *testing.T) {
	t.Parallel()
	srv := harness.StartRedis(t)
	var signed atomic.Bool
	signed.Store(true)
	var calls atomic.Int32
	inner := verify.Func(func(ctx context.Context, img verify.Image) (*verify.Result, error) {
		calls.Add(1)
		if !signed.Load() {
			return &verify.Result{}, verify.Failf("no signatures")
		}
		return &verify.Result{Signers: []string{"ci"}}, nil
	})
	leader, other := redisCached(t, srv.Host, inner), redisCached(t, srv.Host, inner)
	d, err := name.NewDigest("reg.example/app@sha256:" + strings.Repeat("cd", 32))
	if err != nil {
		t.Fatal(err)
	}
	img := verify.Image{Ref: d}
	if _, err := leader.Verify(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	signed.Store(false) // the signature is deleted from the registry
	if _, err := leader.Verify(cache.Revalidate(context.Background(), 0), img); verify.Classify(err) != verify.Failed {
		t.Fatalf("revalidation: %v, want failed", err)
	}
	res, err := other.Verify(context.Background(), img)
	if verify.Classify(err) != verify.Failed || res.Cached {
		t.Errorf("the other replica: %v (cached %v), want a fresh failure, not the withdrawn verified result", err, res.Cached)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("verifications = %d, want 3", n)
	}
}

// redisCached is inner behind a verification cache of its own (one signet
// replica) sharing the Redis at host.
func redisCached(t *testing.T, host string, inner verify.Verifier) verify.Verifier {
	t.Helper()
	r, err := cache.NewRedis("redis://"+host+"/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	c, err := cache.New(cache.Config{Redis: r})
	if err != nil {
		t.Fatal(err)
	}
	return c.Wrap(inner, "rule", "signed")
}

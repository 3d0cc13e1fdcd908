package cache_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
)

// hiding is a verifier in front of a registry that hides the image from
// every caller but one: callers with the credentials of reader verify, the
// others fail (the registry answered 404). Each call waits for gate when
// set.
type hiding struct {
	*counting
	reader string // registry.CredentialsID of the credentials that can read
}

func newHiding(reader string, gate chan struct{}) *hiding {
	h := &hiding{counting: newCounting(nil), reader: reader}
	h.gate = gate
	return h
}

func (h *hiding) Verify(ctx context.Context, img verify.Image) (*verify.Result, error) {
	res, err := h.counting.Verify(ctx, img)
	if err == nil && registry.CredentialsID(ctx) != h.reader {
		return &verify.Result{}, verify.Failf("no cosign signatures found (HTTP 404)")
	}
	return res, err
}

// namespaces returns the contexts of two callers with different
// credentials, as signet serve builds them: a (anonymous) and b (can read).
func namespaces() (a, b context.Context, bID string) {
	a = registry.ContextWithKeychain(context.Background(), registry.NewKeychain(authn.NewMultiKeychain()))
	b = registry.ContextWithKeychain(context.Background(), registry.NewKeychain(authn.NewMultiKeychain()))
	return a, b, registry.CredentialsID(b)
}

// TestFailedResultsStayWithTheirCredentials: a failed result is reused
// only by callers with the same credentials, cached or in flight; a
// verified one by everyone.
func TestFailedResultsStayWithTheirCredentials(t *testing.T) {
	t.Parallel()
	a, b, bID := namespaces()
	image := img(t, "reg.example/private/app"+dig)
	tests := []struct {
		name  string
		order []string // who verifies, in order
		want  []verify.Outcome
		calls int32
	}{
		// A's 404 must not deny B; A's failure is A's (cached for A);
		// B's verified result then serves A too (by design: a fact
		// about the signatures, the kubelet decides who pulls).
		{"A then B then A", []string{"A", "A", "B", "A"}, []verify.Outcome{verify.Failed, verify.Failed, verify.Verified, verify.Verified}, 2},
		{"B then A", []string{"B", "A"}, []verify.Outcome{verify.Verified, verify.Verified}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := cache.New(cache.Config{})
			if err != nil {
				t.Fatal(err)
			}
			inner := newHiding(bID, nil)
			v := c.Wrap(inner, "rule", "v")
			for i, who := range tc.order {
				ctx := map[string]context.Context{"A": a, "B": b}[who]
				_, err := v.Verify(ctx, image)
				if got := verify.Classify(err); got != tc.want[i] {
					t.Errorf("step %d (%s): %s (%v), want %s", i, who, got, err, tc.want[i])
				}
			}
			if n := inner.calls.Load(); n != tc.calls {
				t.Errorf("verifications = %d, want %d", n, tc.calls)
			}
		})
	}
}

// TestInFlightSharedByCredentials: callers join a verification in flight
// only when they carry the same credentials. B arriving while A's
// verification (which fails for A) runs gets its own verification.
func TestInFlightSharedByCredentials(t *testing.T) {
	t.Parallel()
	a, b, bID := namespaces()
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	inner := newHiding(bID, make(chan struct{}))
	v := c.Wrap(inner, "rule", "v")
	image := img(t, "reg.example/private/app"+dig)
	const each = 50
	var wg sync.WaitGroup
	var failedA, verifiedB atomic.Int32
	for range each {
		wg.Go(func() {
			if _, err := v.Verify(a, image); verify.Classify(err) == verify.Failed {
				failedA.Add(1)
			}
		})
	}
	for inner.calls.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	for range each {
		wg.Go(func() {
			if _, err := v.Verify(b, image); err == nil {
				verifiedB.Add(1)
			}
		})
	}
	for inner.calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the rest join their flights
	close(inner.gate)
	wg.Wait()
	if failedA.Load() != each || verifiedB.Load() != each {
		t.Errorf("A failed %d/%d, B verified %d/%d", failedA.Load(), each, verifiedB.Load(), each)
	}
	if n := inner.calls.Load(); n != 2 {
		t.Errorf("verifications = %d, want 2 (one per set of credentials)", n)
	}
}

// TestResolveFailureStaysWithCredentials: a tag resolution that failed for
// one caller's credentials is not handed to a caller with others joining
// it in flight; a resolved digest is shared (cached).
func TestResolveFailureStaysWithCredentials(t *testing.T) {
	t.Parallel()
	a, b, bID := namespaces()
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := name.NewDigest("reg.example/private/app" + dig)
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	var calls atomic.Int32
	resolve := func(ctx context.Context) (name.Digest, error) {
		calls.Add(1)
		<-gate
		if registry.CredentialsID(ctx) != bID {
			return name.Digest{}, verify.Failf("tag not found (HTTP 404)")
		}
		return want, nil
	}
	errA := make(chan error, 1)
	go func() {
		_, err := c.Resolve(a, "reg.example/private/app:v1", resolve)
		errA <- err
	}()
	for calls.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	resB := make(chan error, 1)
	go func() {
		d, err := c.Resolve(b, "reg.example/private/app:v1", resolve)
		if err == nil && d != want {
			err = errors.New("wrong digest " + d.String())
		}
		resB <- err
	}()
	for calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	close(gate)
	if err := <-errA; verify.Classify(err) != verify.Failed {
		t.Errorf("A: %v, want failed", err)
	}
	if err := <-resB; err != nil {
		t.Errorf("B: %v, want the digest", err)
	}
	// B's digest is cached for everyone.
	if d, err := c.Resolve(a, "reg.example/private/app:v1", resolve); err != nil || d != want || calls.Load() != 2 {
		t.Errorf("A after B: %v, %v (resolutions %d), want the cached digest", d, err, calls.Load())
	}
}

// TestFailedEntriesPerCredentialsBounded: failed results kept per set of
// credentials share the cache's LRU bound, so callers with ever new
// credentials (a namespace per request) cannot grow the cache: 100,000
// failed verifications under distinct credentials leave at most Size
// entries, and the live heap grows by less than 16 MiB.
func TestFailedEntriesPerCredentialsBounded(t *testing.T) {
	c, err := cache.New(cache.Config{Size: 1000})
	if err != nil {
		t.Fatal(err)
	}
	v := c.Wrap(newHiding("nobody", nil), "rule", "v")
	image := img(t, "reg.example/private/app"+dig)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	for range 100_000 {
		ctx := registry.ContextWithKeychain(context.Background(), registry.NewKeychain(authn.NewMultiKeychain()))
		if _, err := v.Verify(ctx, image); verify.Classify(err) != verify.Failed {
			t.Fatalf("verification: %v, want failed", err)
		}
	}
	after := heap()
	if n := c.Len(); n > 1000 {
		t.Errorf("%d entries, want at most 1000", n)
	}
	grown := int64(after) - int64(before)
	t.Logf("live heap %d → %d bytes (%+d) after 100,000 failed results under distinct credentials", before, after, grown)
	if grown > 16<<20 {
		t.Errorf("live heap grew by %d bytes, want < 16 MiB", grown)
	}
	runtime.KeepAlive(c)
}

package cache_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/verify"
)

// counting is a verifier whose outcome the test sets, counting calls.
type counting struct {
	calls atomic.Int32
	err   atomic.Pointer[error] // error to return (nil stored as errNone)
	gate  chan struct{}
}

var errNone = errors.New("none")

func newCounting(err error) *counting {
	c := &counting{}
	c.set(err)
	return c
}

func (c *counting) set(err error) {
	if err == nil {
		err = errNone
	}
	c.err.Store(&err)
}

func (c *counting) Verify(ctx context.Context, img verify.Image) (*verify.Result, error) {
	c.calls.Add(1)
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return &verify.Result{}, &verify.InconclusiveError{Reason: "gate", Err: ctx.Err()}
		}
	}
	err := *c.err.Load()
	if err == errNone {
		return &verify.Result{Signers: []string{"ci"}}, nil
	}
	return &verify.Result{}, err
}

func img(t *testing.T, s string) verify.Image {
	t.Helper()
	d, err := name.NewDigest(s)
	if err != nil {
		t.Fatal(err)
	}
	return verify.Image{Ref: d}
}

const dig = "@sha256:0123456789012345678901234567890123456789012345678901234567890123"

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestOutcomesAndTTL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		wantCalls int32 // after: verify, verify, advance(before expiry), verify, advance(past), verify
	}{
		{name: "verified cached for TTL", err: nil, wantCalls: 2},
		{name: "failed cached for FailedTTL", err: verify.Failf("no signatures"), wantCalls: 2},
		{name: "inconclusive never cached", err: verify.Inconclusivef("registry down"), wantCalls: 4},
		{name: "unknown errors never cached", err: errors.New("boom"), wantCalls: 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{now: time.Unix(1e9, 0)}
			c, err := cache.New(cache.Config{TTL: time.Minute, FailedTTL: 10 * time.Second, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			inner := newCounting(tc.err)
			v := c.Wrap(inner, "rule1", "signed")
			ttl := time.Minute
			if tc.err != nil {
				ttl = 10 * time.Second
			}
			want := verify.Classify(tc.err)
			check := func(step string, cachedWanted bool) {
				res, err := v.Verify(context.Background(), img(t, "reg.example/app"+dig))
				if got := verify.Classify(err); got != want {
					t.Fatalf("%s: outcome %s, want %s", step, got, want)
				}
				if res.Cached != cachedWanted {
					t.Errorf("%s: Cached = %v, want %v", step, res.Cached, cachedWanted)
				}
			}
			definitive := want == verify.Verified || want == verify.Failed
			check("first", false)
			check("second", definitive)
			clk.advance(ttl - time.Second)
			check("before expiry", definitive)
			clk.advance(2 * time.Second)
			check("after expiry", false)
			if n := inner.calls.Load(); n != tc.wantCalls {
				t.Errorf("inner verifications = %d, want %d", n, tc.wantCalls)
			}
		})
	}
}

func TestKeying(t *testing.T) {
	t.Parallel()
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	inner := newCounting(nil)
	a, b := c.Wrap(inner, "ruleA", "v"), c.Wrap(inner, "ruleB", "v")
	ctx := context.Background()
	for _, call := range []struct {
		v   verify.Verifier
		ref string
	}{
		{a, "reg.example/app" + dig},
		{a, "reg.example/app" + dig},   // hit
		{b, "reg.example/app" + dig},   // another rule: miss
		{a, "reg.example/other" + dig}, // same digest, other repository: miss
		{b, "reg.example/app" + dig},   // hit
	} {
		if _, err := call.v.Verify(ctx, img(t, call.ref)); err != nil {
			t.Fatal(err)
		}
	}
	if n := inner.calls.Load(); n != 3 {
		t.Errorf("inner verifications = %d, want 3", n)
	}
}

// TestSingleflight: 500 concurrent verifications of one uncached image run
// the verifier once; the others join it.
func TestSingleflight(t *testing.T) {
	t.Parallel()
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	inner := newCounting(nil)
	inner.gate = make(chan struct{})
	v := c.Wrap(inner, "rule", "v")
	var wg sync.WaitGroup
	var verified atomic.Int32
	started := make(chan struct{}, 500)
	for range 500 {
		wg.Go(func() {
			started <- struct{}{}
			if _, err := v.Verify(context.Background(), img(t, "reg.example/app"+dig)); err == nil {
				verified.Add(1)
			}
		})
	}
	for range 500 {
		<-started
	}
	time.Sleep(50 * time.Millisecond) // let them reach the cache
	close(inner.gate)
	wg.Wait()
	if n := inner.calls.Load(); n != 1 {
		t.Errorf("verifications = %d, want 1", n)
	}
	if verified.Load() != 500 {
		t.Errorf("%d of 500 verified", verified.Load())
	}
}

// TestJoinerDeadline: a caller joining a slow shared verification gives up
// at its own deadline, inconclusive, while the verification goes on.
func TestJoinerDeadline(t *testing.T) {
	t.Parallel()
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	inner := newCounting(nil)
	inner.gate = make(chan struct{})
	v := c.Wrap(inner, "rule", "v")
	done := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), img(t, "reg.example/app"+dig))
		done <- err
	}()
	for inner.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := v.Verify(ctx, img(t, "reg.example/app"+dig)); verify.Classify(err) != verify.Inconclusive {
		t.Errorf("joiner past its deadline: %v, want inconclusive", err)
	}
	close(inner.gate)
	if err := <-done; err != nil {
		t.Errorf("leader: %v", err)
	}
}

// TestJoinerOutlivesLeader: a shared verification runs under the deadline
// of the caller that started it. When that deadline ends it, a joiner
// with time left verifies again under its own deadline (once) instead of
// taking an answer about someone else's time; a joiner out of time too
// gets the inconclusive answer at its own deadline.
func TestJoinerOutlivesLeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		joiner     time.Duration // the joiner's deadline
		want       verify.Outcome
		wantCalls  int32
		openOnCall int32 // the gate opens for this call
	}{
		{name: "joiner with time left verifies again", joiner: 10 * time.Second, want: verify.Verified, wantCalls: 2, openOnCall: 2},
		{name: "joiner out of time first", joiner: 20 * time.Millisecond, want: verify.Inconclusive, wantCalls: 1},
		{name: "second try expires too: no third", joiner: 300 * time.Millisecond, want: verify.Inconclusive, wantCalls: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := cache.New(cache.Config{})
			if err != nil {
				t.Fatal(err)
			}
			inner := newCounting(nil)
			inner.gate = make(chan struct{})
			if tc.openOnCall > 0 {
				go func() {
					for inner.calls.Load() < tc.openOnCall {
						time.Sleep(time.Millisecond)
					}
					close(inner.gate)
				}()
			}
			v := c.Wrap(inner, "rule", "v")
			leaderCtx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			leader := make(chan error, 1)
			go func() {
				_, err := v.Verify(leaderCtx, img(t, "reg.example/app"+dig))
				leader <- err
			}()
			for inner.calls.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tc.joiner)
			defer cancel()
			_, err = v.Verify(ctx, img(t, "reg.example/app"+dig))
			if got := verify.Classify(err); got != tc.want {
				t.Errorf("joiner: %s (%v), want %s", got, err, tc.want)
			}
			if err := <-leader; verify.Classify(err) != verify.Inconclusive {
				t.Errorf("leader past its deadline: %v, want inconclusive", err)
			}
			if n := inner.calls.Load(); n != tc.wantCalls {
				t.Errorf("verifications = %d, want %d", n, tc.wantCalls)
			}
		})
	}
}

type resolving struct{ *counting }

func (resolving) ResolveTag(context.Context, imageref.Ref) (name.Digest, error) {
	return name.NewDigest("reg.example/app" + dig)
}

// TestWrapKeepsTagResolver: wrapping a verifier whose trust data resolves
// tags keeps that capability, or the engine would resolve through the
// registry instead of the signed trust data.
func TestWrapKeepsTagResolver(t *testing.T) {
	t.Parallel()
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Wrap(newCounting(nil), "r", "v").(verify.TagResolver); ok {
		t.Error("plain verifier became a TagResolver")
	}
	w, ok := c.Wrap(resolving{newCounting(nil)}, "r", "v").(verify.TagResolver)
	if !ok {
		t.Fatal("TagResolver lost by wrapping")
	}
	ref, _ := imageref.Parse("reg.example/app:v1")
	if d, err := w.ResolveTag(context.Background(), ref); err != nil || d.DigestStr() != dig[1:] {
		t.Errorf("ResolveTag = %v, %v", d, err)
	}
}

// TestResolveJoinerOutlivesStarter: a shared tag resolution runs under the
// deadline of the caller that started it; a joiner with time left resolves
// again (once) when that deadline cut it short, and caches the answer.
func TestResolveJoinerOutlivesStarter(t *testing.T) {
	t.Parallel()
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := name.NewDigest("reg.example/app" + dig)
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	gate := make(chan struct{})
	resolve := func(ctx context.Context) (name.Digest, error) {
		if calls.Add(1) == 1 {
			select { // the first call stalls past its caller's deadline
			case <-gate:
			case <-ctx.Done():
				return name.Digest{}, &verify.InconclusiveError{Reason: "stalled", Err: ctx.Err()}
			}
		}
		return want, nil
	}
	starter, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	first := make(chan error, 1)
	go func() {
		_, err := c.Resolve(starter, "reg.example/app:v1", resolve)
		first <- err
	}()
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	got, err := c.Resolve(ctx, "reg.example/app:v1", resolve)
	if err != nil || got != want {
		t.Fatalf("joiner: %v, %v; want %v", got, err, want)
	}
	if err := <-first; verify.Classify(err) != verify.Inconclusive {
		t.Errorf("starter past its deadline: %v, want inconclusive", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("resolutions = %d, want 2", n)
	}
	// The second answer was cached.
	if _, err := c.Resolve(ctx, "reg.example/app:v1", resolve); err != nil || calls.Load() != 2 {
		t.Errorf("cached resolution: err %v, calls %d", err, calls.Load())
	}
	close(gate)
}

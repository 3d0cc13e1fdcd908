package keysource_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/signet-dev/signet/internal/keysource"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
)

// cachedSecrets is a Secret store behind a cache, like kube.SecretData:
// Get reads the cache (filled on a miss), GetFresh the store, replacing
// the cached copy.
type cachedSecrets struct {
	mu     sync.Mutex
	live   map[string]map[string][]byte // by namespace/name
	cached map[string]map[string][]byte
	gets   map[string]int // GetFresh calls by namespace/name
}

func newCachedSecrets() *cachedSecrets {
	return &cachedSecrets{live: map[string]map[string][]byte{}, cached: map[string]map[string][]byte{}, gets: map[string]int{}}
}

func (s *cachedSecrets) put(name, pem string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live[name] = map[string][]byte{"cosign.pub": []byte(pem)}
}

func (s *cachedSecrets) remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, name)
}

func (s *cachedSecrets) freshReads(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets[name]
}

func (s *cachedSecrets) Get(_ context.Context, ns, name string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.cached[ns+"/"+name]; ok {
		return d, nil
	}
	d, ok := s.live[ns+"/"+name]
	if !ok {
		return nil, errors.New(`secrets "` + name + `" not found`)
	}
	s.cached[ns+"/"+name] = d
	return d, nil
}

func (s *cachedSecrets) GetFresh(_ context.Context, ns, name string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets[ns+"/"+name]++
	d, ok := s.live[ns+"/"+name]
	if !ok {
		delete(s.cached, ns+"/"+name)
		return nil, errors.New(`secrets "` + name + `" not found`)
	}
	s.cached[ns+"/"+name] = d
	return d, nil
}

// getOnly hides GetFresh: a Secrets without a cache to bypass.
type getOnly struct{ s *cachedSecrets }

func (g getOnly) Get(ctx context.Context, ns, name string) (map[string][]byte, error) {
	return g.s.Get(ctx, ns, name)
}

func pemFingerprint(t *testing.T, pem string) string {
	t.Helper()
	v, err := cosign.ParsePublicKey([]byte(pem))
	if err != nil {
		t.Fatal(err)
	}
	fp, err := keysource.Fingerprint(v)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// TestRefresh: Refresh reads past the Secret cache, reports a rotation
// once, keeps the key in use when the Secret is gone, and reports no
// change on a first resolution.
func TestRefresh(t *testing.T) {
	t.Parallel()
	k1, k2 := testutil.NewKey(t), testutil.NewKey(t)
	type step struct {
		secret      string // the PEM in the Secret now; "" deletes it
		use         bool   // a verification resolves the key first (Verifier)
		wantChanged bool
		wantErr     bool
		wantKey     string // the PEM in use afterwards
	}
	tests := []struct {
		name     string
		getOnly  bool // the Secrets has no GetFresh
		steps    []step
		wantRead int // GetFresh calls
	}{
		{"first resolution is no change", false, []step{
			{secret: k1.PEM, wantKey: k1.PEM},
			{secret: k1.PEM, wantKey: k1.PEM},
		}, 2},
		{"key in use, then rotated", false, []step{
			{secret: k1.PEM, use: true, wantKey: k1.PEM},
			{secret: k2.PEM, wantChanged: true, wantKey: k2.PEM},
			{secret: k2.PEM, wantKey: k2.PEM},
			{secret: k1.PEM, wantChanged: true, wantKey: k1.PEM},
		}, 4},
		{"rotated while not in use since the last Refresh", false, []step{
			{secret: k1.PEM, wantKey: k1.PEM},
			{secret: k2.PEM, wantChanged: true, wantKey: k2.PEM},
		}, 2},
		{"Secret deleted: error, key kept", false, []step{
			{secret: k1.PEM, wantKey: k1.PEM},
			{secret: "", wantErr: true, wantKey: k1.PEM},
			{secret: k1.PEM, wantKey: k1.PEM},
			{secret: "", wantErr: true, wantKey: k1.PEM},
			{secret: k2.PEM, wantChanged: true, wantKey: k2.PEM},
		}, 5},
		{"without GetFresh: read through Get", true, []step{
			{secret: k1.PEM, use: true, wantKey: k1.PEM},
			{secret: k2.PEM, wantKey: k1.PEM}, // the cache still has k1
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := newCachedSecrets()
			var secrets keysource.Secrets = store
			if tc.getOnly {
				secrets = getOnly{store}
			}
			src, err := keysource.New("k8s://ns/k", secrets, cosign.ParsePublicKey)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			for i, s := range tc.steps {
				if s.secret == "" {
					store.remove("ns/k")
				} else {
					store.put("ns/k", s.secret)
				}
				if s.use {
					if _, err := src.Verifier(ctx); err != nil {
						t.Fatalf("step %d: Verifier(): %v", i, err)
					}
				}
				changed, err := src.Refresh(ctx)
				if changed != s.wantChanged {
					t.Errorf("step %d: changed %v, want %v", i, changed, s.wantChanged)
				}
				switch {
				case s.wantErr && verify.Classify(err) != verify.Inconclusive:
					t.Errorf("step %d: error %v, want an inconclusive one", i, err)
				case s.wantErr && !strings.Contains(err.Error(), "k8s://ns/k"):
					t.Errorf("step %d: error %v does not name the key", i, err)
				case !s.wantErr && err != nil:
					t.Errorf("step %d: %v", i, err)
				}
				fp, err := src.Fingerprint(ctx)
				if err != nil {
					t.Fatalf("step %d: Fingerprint(): %v", i, err)
				}
				v, err := src.Verifier(ctx)
				if err != nil {
					t.Fatalf("step %d: Verifier(): %v", i, err)
				}
				vfp, _ := keysource.Fingerprint(v)
				if want := pemFingerprint(t, s.wantKey); fp != want || vfp != want {
					t.Errorf("step %d: fingerprint %s, verifier's %s; want %s", i, fp, vfp, want)
				}
			}
			if n := store.freshReads("ns/k"); n != tc.wantRead {
				t.Errorf("%d reads past the cache, want %d", n, tc.wantRead)
			}
		})
	}
}

// pass is a fake clock for Watch: it records every pause and runs hooks
// at pause numbers; it ends Watch after limit pauses.
type pass struct {
	waits  []time.Duration
	limit  int
	hooks  map[int]func() // before pause n (0-based) returns
	cancel context.CancelFunc
}

func (p *pass) wait(ctx context.Context, d time.Duration) bool {
	p.waits = append(p.waits, d)
	if h := p.hooks[len(p.waits)-1]; h != nil {
		h()
	}
	if len(p.waits) >= p.limit {
		p.cancel()
	}
	return ctx.Err() == nil
}

// TestWatch: one read per reference and pass (Sources sharing a reference
// share it), Changed once per rotation, the sources list followed, pauses
// spreading a pass over the interval but never closer than MaxPerSecond
// allows, and a failing key logged once until it recovers.
func TestWatch(t *testing.T) {
	t.Parallel()
	k1, k2 := testutil.NewKey(t), testutil.NewKey(t)
	store := newCachedSecrets()
	store.put("ns/a", k1.PEM)
	store.put("ns/b", k1.PEM)
	store.put("ns/c", k1.PEM)
	newSource := func(ref string) *keysource.Source {
		s, err := keysource.New(ref, store, cosign.ParsePublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, a2, b, c := newSource("k8s://ns/a"), newSource("k8s://ns/a"), newSource("k8s://ns/b"), newSource("k8s://ns/c")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Pauses 0-1 are pass 1 (a, b), 2-3 pass 2 (a, b), 4-5 pass 3 (a, c),
	// 6-7 pass 4 (a, c), 8-9 pass 5.
	list := []*keysource.Source{a, a2, b, a}
	p := &pass{limit: 10, cancel: cancel, hooks: map[int]func(){
		1: func() { store.put("ns/a", k2.PEM) },                              // rotated before pass 2
		3: func() { list = []*keysource.Source{a, c}; store.remove("ns/c") }, // c added, gone, b dropped
		7: func() { store.put("ns/c", k1.PEM) },                              // c back in pass 5
	}}
	var changed []string
	var logs bytes.Buffer
	opts := keysource.WithWait(keysource.WatchOptions{
		Interval: time.Minute,
		Changed:  func(s *keysource.Source) { changed = append(changed, s.String()) },
		Log:      slog.New(slog.NewTextHandler(&logs, nil)),
	}, p.wait)
	keysource.Watch(ctx, func() []*keysource.Source { return list }, opts)

	if diff := cmp.Diff([]string{"k8s://ns/a"}, changed); diff != "" {
		t.Errorf("Changed calls (-want +got):\n%s", diff)
	}
	for name, want := range map[string]int{"ns/a": 5, "ns/b": 2, "ns/c": 3} {
		if n := store.freshReads(name); n != want {
			t.Errorf("%s read %d times, want %d", name, n, want)
		}
	}
	for _, s := range []*keysource.Source{a, a2} {
		if fp, err := s.Fingerprint(ctx); err != nil || fp != pemFingerprint(t, k2.PEM) {
			t.Errorf("a Source of %s serves %s, %v; want the rotated key", s, fp, err)
		}
	}
	wantWaits := slices.Repeat([]time.Duration{30 * time.Second}, 10) // a minute over two keys
	if diff := cmp.Diff(wantWaits, p.waits); diff != "" {
		t.Errorf("pauses (-want +got):\n%s", diff)
	}
	out := logs.String()
	if n := strings.Count(out, "level=WARN"); n != 1 || !strings.Contains(out, "key=k8s://ns/c") {
		t.Errorf("want one warning naming k8s://ns/c, got:\n%s", out)
	}
	if n := strings.Count(out, "key resolved again"); n != 1 {
		t.Errorf("want one recovery message, got:\n%s", out)
	}
	if strings.Contains(out, "PUBLIC KEY") {
		t.Errorf("key material logged:\n%s", out)
	}
}

// TestWatchRate: a pass over many keys pauses at least 1/MaxPerSecond of
// a second between reads, even when the interval would allow less; an
// empty list waits out the interval.
func TestWatchRate(t *testing.T) {
	t.Parallel()
	k := testutil.NewKey(t)
	store := newCachedSecrets()
	var srcs []*keysource.Source
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		store.put("ns/"+name, k.PEM)
		s, err := keysource.New("k8s://ns/"+name, store, cosign.ParsePublicKey)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, s)
	}
	tests := []struct {
		name   string
		srcs   []*keysource.Source
		perSec int
		want   time.Duration // every pause
	}{
		{"capped by the default rate", srcs, 0, time.Second / keysource.DefaultMaxPerSecond},
		{"capped by MaxPerSecond", srcs, 2, time.Second / 2},
		{"spread over the interval", srcs[:2], 100, time.Second / 2},
		{"nothing to watch", nil, 0, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := &pass{limit: 20, cancel: cancel}
			keysource.Watch(ctx, func() []*keysource.Source { return tc.srcs },
				keysource.WithWait(keysource.WatchOptions{Interval: time.Second, MaxPerSecond: tc.perSec}, p.wait))
			for i, d := range p.waits {
				if d != tc.want {
					t.Errorf("pause %d: %s, want %s", i, d, tc.want)
				}
			}
		})
	}
}

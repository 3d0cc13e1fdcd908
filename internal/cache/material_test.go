package cache_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/keysource"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
)

// secretStore is a Secret reader whose content the test changes.
type secretStore struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (s *secretStore) set(key string, v []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v == nil {
		delete(s.data, key)
		return
	}
	s.data[key] = v
}

func (s *secretStore) Get(_ context.Context, _, _ string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for k, v := range s.data {
		out[k] = v
	}
	return out, nil
}

type step struct {
	name    string
	change  func(t *testing.T)
	advance time.Duration
	want    verify.Outcome
	cached  bool
}

// run verifies img through c after each step's change.
func run(t *testing.T, clk *clock, v verify.Verifier, img verify.Image, steps []step) {
	t.Helper()
	for _, s := range steps {
		if s.change != nil {
			s.change(t)
		}
		clk.advance(s.advance)
		res, err := v.Verify(context.Background(), img)
		if got := verify.Classify(err); got != s.want || res.Cached != s.cached {
			t.Errorf("%s: %s (cached %v; %v), want %s (cached %v)", s.name, got, res.Cached, err, s.want, s.cached)
		}
	}
}

// TestRotatedSecretKey: a result verified with a key held in a Secret is
// not served once the Secret holds another key, although the rule (and
// the key's reference) did not change and the result's TTL has not
// passed; a key that cannot be read gets no cached answer.
func TestRotatedSecretKey(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	oldKey, newKey := testutil.NewKey(t), testutil.NewKey(t)
	img := reg.PushImage(t, "demo/app:v1")
	testutil.SignLegacy(t, img, oldKey)
	clk := &clock{now: time.Unix(1e9, 0)}
	store := &secretStore{data: map[string][]byte{"cosign.pub": []byte(oldKey.PEM)}}
	src, err := keysource.New("k8s://signet/cosign", store, cosign.ParsePublicKey, keysource.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	cv, err := cosign.New(registry.MustNew(registry.WithInsecureRegistries(reg.Host)), []cosign.TrustRoot{{Name: "ci", KeyRef: src}}, verify.Quorum{Roots: []string{"ci"}, Threshold: 1}, cosign.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(cache.Config{TTL: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	v := c.Wrap(cv, "rule", "signed")
	run(t, clk, v, verify.Image{Ref: img}, []step{
		{name: "first", want: verify.Verified},
		{name: "again", want: verify.Verified, cached: true},
		{name: "key rotated, not yet re-read", change: func(*testing.T) { store.set("cosign.pub", []byte(newKey.PEM)) }, advance: time.Minute, want: verify.Verified, cached: true},
		{name: "rotated key re-read", advance: keysource.TTL, want: verify.Failed},
		{name: "rotated back", change: func(*testing.T) { store.set("cosign.pub", []byte(oldKey.PEM)) }, advance: keysource.TTL, want: verify.Verified, cached: true},
		{name: "key removed", change: func(*testing.T) { store.set("cosign.pub", nil) }, advance: keysource.TTL, want: verify.Inconclusive},
		{name: "key still missing", advance: keysource.RetryAfter, want: verify.Inconclusive},
	})
}

// TestEditedTrustedRootFile: a keyless result verified with one
// trustedRootFile is not served once the file holds another trusted root;
// a file that no longer parses fails closed (inconclusive), and the
// original content brings the original answers back.
func TestEditedTrustedRootFile(t *testing.T) {
	t.Parallel()
	trusted, err := fixture.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	other, err := fixture.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	reg := testutil.NewRegistry(t, false)
	img := reg.PushImage(t, "demo/app:v1")
	if err := trusted.SignLegacyKeyless(img, "alice@example.test", "https://issuer.example.test", fixture.KeylessOptions{}); err != nil {
		t.Fatal(err)
	}
	trustedJSON, err := trusted.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	otherJSON, err := other.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "trusted_root.json")
	write := func(b []byte) func(*testing.T) {
		return func(t *testing.T) {
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(trustedJSON)(t)
	clk := &clock{now: time.Unix(1e9, 0)}
	m, err := cosign.FileMaterial(path, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	cv, err := cosign.New(registry.MustNew(registry.WithInsecureRegistries(reg.Host)), []cosign.TrustRoot{{Name: "ci", Identity: &cosign.Identity{Issuer: "https://issuer.example.test", Subject: "alice@example.test"}}},
		verify.Quorum{Roots: []string{"ci"}, Threshold: 1}, cosign.Options{Material: m, TLog: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(cache.Config{TTL: time.Hour, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	v := c.Wrap(cv, "rule", "keyless")
	run(t, clk, v, verify.Image{Ref: img}, []step{
		{name: "first", want: verify.Verified},
		{name: "again", want: verify.Verified, cached: true},
		{name: "edited, not yet re-read", change: write(otherJSON), advance: time.Second, want: verify.Verified, cached: true},
		{name: "edited file re-read", advance: cosign.TrustedRootFileCheck, want: verify.Failed},
		{name: "broken file", change: write([]byte(`{"mediaType": "nonsense`)), advance: cosign.TrustedRootFileCheck, want: verify.Inconclusive},
		{name: "file removed", change: func(t *testing.T) { _ = os.Remove(path) }, advance: cosign.TrustedRootFileCheck, want: verify.Inconclusive},
		{name: "original content back", change: write(trustedJSON), advance: cosign.TrustedRootFileCheck, want: verify.Verified, cached: true},
	})
}

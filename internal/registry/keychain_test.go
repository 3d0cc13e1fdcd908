package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// static gives the same credentials for every registry.
type static struct{ user, pass string }

func (s static) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: s.user, Password: s.pass}), nil
}

func TestContextKeychain(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	img := reg.PushImage(t, "private/app:v1")
	reg.RequireBasicAuth("alice", "s3cret")
	ref, _ := imageref.Parse(reg.TLSHost + "/private/app:v1")
	c := mustNew(t, registry.WithKeychain(authn.NewMultiKeychain()), registry.WithCABundle(reg.CA)) // anonymous unless ctx says otherwise

	right := registry.NewKeychain(static{"alice", "s3cret"})
	wrong := registry.NewKeychain(static{"mallory", "guess"})
	tests := []struct {
		name    string
		chain   []*registry.Keychain // outermost first
		outcome verify.Outcome
		has     string
	}{
		{"no credentials", nil, verify.Inconclusive, "HTTP 401"},
		{"request credentials", []*registry.Keychain{right}, verify.Verified, ""},
		{"wrong credentials", []*registry.Keychain{wrong}, verify.Inconclusive, "HTTP 401"},
		{"inner keychain first", []*registry.Keychain{wrong, right}, verify.Verified, ""},
		{"anonymous inner falls through", []*registry.Keychain{right, registry.NewKeychain(authn.NewMultiKeychain())}, verify.Verified, ""},
		{"unreadable", []*registry.Keychain{registry.UnreadableKeychain(errors.New("secrets \"regcred\" is forbidden"))}, verify.Inconclusive, `reading registry credentials: secrets "regcred" is forbidden`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			for _, kc := range tc.chain {
				ctx = registry.ContextWithKeychain(ctx, kc)
			}
			d, err := c.Resolve(ctx, ref)
			if got := verify.Classify(err); got != tc.outcome || (err != nil && !strings.Contains(err.Error(), tc.has)) {
				t.Fatalf("Resolve = %v (%s), want %s containing %q", err, got, tc.outcome, tc.has)
			}
			if err == nil && d.DigestStr() != img.DigestStr() {
				t.Errorf("Resolve = %s, want %s", d, img.DigestStr())
			}
		})
	}
}

// TestContextKeychainReuse: requests carrying the same *Keychain share one
// authenticated connection per repository, as the Client's own do: the
// registry is pinged once.
func TestContextKeychainReuse(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	reg.PushImage(t, "private/app:v1")
	reg.RequireBasicAuth("alice", "s3cret")
	ref, _ := imageref.Parse(reg.TLSHost + "/private/app:v1")
	c := mustNew(t, registry.WithKeychain(authn.NewMultiKeychain()), registry.WithCABundle(reg.CA))
	kc := registry.NewKeychain(static{"alice", "s3cret"})
	reg.Reset()
	for range 3 {
		if _, err := c.Resolve(registry.ContextWithKeychain(context.Background(), kc), ref); err != nil {
			t.Fatal(err)
		}
	}
	pings := 0
	for _, p := range reg.Paths() {
		if p == "GET /v2/" {
			pings++
		}
	}
	if pings != 1 {
		t.Errorf("3 resolutions with one keychain pinged %d times (%v), want 1", pings, reg.Paths())
	}
	// Another keychain, even with the same credentials, gets its own.
	if _, err := c.Resolve(registry.ContextWithKeychain(context.Background(), registry.NewKeychain(static{"alice", "s3cret"})), ref); err != nil {
		t.Fatal(err)
	}
	if n := len(reg.Paths()); n != 4+2 { // ping + 3 HEADs, then ping + HEAD
		t.Errorf("requests %v", reg.Paths())
	}
}

func mustNew(t *testing.T, opts ...registry.Option) *registry.Client {
	t.Helper()
	c, err := registry.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

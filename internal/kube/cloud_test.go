package kube

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// askedKeychain records the registries it is asked about.
type askedKeychain struct{ asked []string }

func (k *askedKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	k.asked = append(k.asked, r.RegistryStr())
	return authn.FromConfig(authn.AuthConfig{RegistryToken: "aad-token"}), nil
}

// TestACRKeychainAnchored: signet's Azure token goes to ACR login servers
// only, never to a host that merely contains an ACR domain (GO-2026-6225).
func TestACRKeychainAnchored(t *testing.T) {
	for _, tc := range []struct {
		registry string
		asked    bool
	}{
		{"myregistry.azurecr.io", true},
		{"my-registry-abc123.azurecr.io", true},
		{"myregistry.azurecr.cn", true},
		{"myregistry.azurecr.us", true},
		{"myregistry.westeurope.data.azurecr.io", true},
		{"evil.azurecr.io.attacker.example", false},
		{"azurecr.io", false},
		{"evilazurecr.io", false},
		{"myregistry.azurecr.io:5000", false},
		{"myregistry.azurecr.io.", false},
		{"myregistry.azurecr.com", false},
		{"ghcr.io", false},
		{"index.docker.io", false},
	} {
		t.Run(tc.registry, func(t *testing.T) {
			inner := &askedKeychain{}
			reg, err := name.NewRegistry(tc.registry)
			if err != nil {
				t.Fatal(err)
			}
			auth, err := acrKeychain{inner}.Resolve(reg)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(inner.asked) > 0; got != tc.asked {
				t.Fatalf("helper asked = %v, want %v", got, tc.asked)
			}
			if !tc.asked && auth != authn.Anonymous {
				t.Fatalf("got %v for %s, want anonymous", auth, tc.registry)
			}
		})
	}
}

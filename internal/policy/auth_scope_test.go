package policy

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/verify"
)

// TestScopedKeychain: a validator's credentials answer for the registries
// listed, however the image spells them (Docker Hub's aliases, the default
// HTTPS port, case), and anonymously for every other host.
func TestScopedKeychain(t *testing.T) {
	t.Parallel()
	secret := authn.FromConfig(authn.AuthConfig{Username: "u", Password: "p"})
	kc := scopedKeychain{kc: keychainFunc(func(authn.Resource) (authn.Authenticator, error) { return secret, nil }),
		hosts: []string{registryHost("docker.io"), registryHost("GHCR.io:443"), registryHost("registry.example.com:5000")}}
	tests := []struct {
		registry string
		want     bool
	}{
		{"docker.io", true}, {"index.docker.io", true}, {"registry-1.docker.io", true},
		{"ghcr.io", true}, {"ghcr.io:443", true}, {"GHCR.IO", true},
		{"registry.example.com:5000", true},
		{"registry.example.com", false}, {"registry.example.com:5001", false},
		{"ghcr.io.evil.example", false}, {"evil.example", false}, {"ghcr.io:8443", false},
	}
	for _, tc := range tests {
		reg, err := name.NewRegistry(tc.registry)
		if err != nil {
			t.Fatal(err)
		}
		got, err := kc.Resolve(reg)
		if err != nil {
			t.Fatal(err)
		}
		if (got == secret) != tc.want {
			t.Errorf("%s: credentials offered = %v, want %v", tc.registry, got == secret, tc.want)
		}
	}
}

type keychainFunc func(authn.Resource) (authn.Authenticator, error)

func (f keychainFunc) Resolve(r authn.Resource) (authn.Authenticator, error) { return f(r) }

type fingerprinting struct{ verify.Verifier }

func (fingerprinting) MaterialFingerprint(context.Context) (string, error) { return "fp", nil }

// TestWithAuthKeepsFingerprint: wrapping a verifier in its validator's
// credentials keeps the fingerprint of its material visible to the cache,
// or a rotated key's results would be served again.
func TestWithAuthKeepsFingerprint(t *testing.T) {
	t.Parallel()
	inner := verify.Func(func(context.Context, verify.Image) (*verify.Result, error) { return &verify.Result{}, nil })
	if _, ok := withAuth("v", "s", nil, nil, inner).(verify.MaterialFingerprinter); ok {
		t.Error("a verifier without material outside the policy became a MaterialFingerprinter")
	}
	f, ok := withAuth("v", "s", nil, nil, fingerprinting{inner}).(verify.MaterialFingerprinter)
	if !ok {
		t.Fatal("MaterialFingerprinter lost by withAuth")
	}
	if fp, err := f.MaterialFingerprint(context.Background()); fp != "fp" || err != nil {
		t.Errorf("MaterialFingerprint = %q, %v", fp, err)
	}
}

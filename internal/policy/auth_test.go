package policy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// secretKeychains maps Secret names to credentials; a name it lacks cannot
// be read.
type secretKeychains map[string]*registry.Keychain

func (s secretKeychains) Secret(_ context.Context, name string) (*registry.Keychain, error) {
	if kc, ok := s[name]; ok {
		return kc, nil
	}
	return nil, errors.New(`reading Secret signet/` + name + `: secrets "` + name + `" not found`)
}

type basic struct{ user, pass string }

func (b basic) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: b.user, Password: b.pass}), nil
}

func TestValidatorAuth(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	img := reg.PushImage(t, "private/app:v1")
	testutil.SignLegacy(t, img, key)
	reg.RequireBasicAuth("sig-reader", "pw")

	validator := func(secret string) string {
		return `
- name: private
  type: cosign
  auth: {secretName: ` + secret + `}
  trustRoots:
  - name: ci
    key: |
      ` + testutil.Indent(key.PEM, 6)
	}
	secrets := secretKeychains{
		"good":  registry.NewKeychain(basic{"sig-reader", "pw"}),
		"wrong": registry.NewKeychain(basic{"sig-reader", "nope"}),
	}
	anonymous := registry.MustNew(registry.WithKeychain(authn.NewMultiKeychain()), registry.WithCABundle(reg.CA))
	tests := []struct {
		secret  string
		outcome verify.Outcome
		has     string
	}{
		{"good", verify.Verified, ""},
		{"wrong", verify.Inconclusive, "HTTP 401"},
		{"missing", verify.Inconclusive, `reading the registry credentials of validator "private" (auth.secretName "missing"): reading Secret signet/missing: secrets "missing" not found`},
	}
	for _, tc := range tests {
		t.Run(tc.secret, func(t *testing.T) {
			t.Parallel()
			doc, err := policy.Parse([]byte(`apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators:` + validator(tc.secret) + `
rules: [{pattern: "` + reg.TLSHost + `/**", validator: private}]`))
			if err != nil {
				t.Fatal(err)
			}
			eng, err := policy.Compile(doc, anonymous, policy.WithSecretKeychains(secrets))
			if err != nil {
				t.Fatal(err)
			}
			// By digest: no tag resolution, so only the validator's
			// signature fetches need the credentials, sent over HTTPS.
			d := eng.Evaluate(context.Background(), reg.TLSHost+"/private/app@"+img.DigestStr())
			if d.Outcome != tc.outcome || !strings.Contains(d.Reason, tc.has) {
				t.Errorf("outcome %s (%s), want %s containing %q", d.Outcome, d.Reason, tc.outcome, tc.has)
			}
		})
	}
}

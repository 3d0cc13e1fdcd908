package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// authPolicy is a policy whose cosign validator "private" reads with the
// credentials of Secret "regcred"; auth is the rest of its auth mapping.
func authPolicy(keyPEM, auth, rules string) string {
	return `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators:
- name: private
  type: cosign
  auth: {secretName: regcred` + auth + `}
  trustRoots:
  - name: ci
    key: |
      ` + testutil.Indent(keyPEM, 6) + `
- {name: allow, type: static, approve: true}
rules:
` + rules
}

// TestAuthRegistriesCompile: credentials are scoped to registries named
// in auth.registries or, by default, in the validator's rules' patterns; a
// rule that can match any registry host needs them listed.
func TestAuthRegistriesCompile(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	secrets := secretKeychains{"regcred": registry.NewKeychain(basic{"u", "p"})}
	tests := []struct {
		name, auth, rules string
		want              []string // problems; none: compiles
	}{
		{"hosts from patterns", "", `- {pattern: "ghcr.io/acme/**", validator: private}
- {pattern: "registry.example.com:5000/app", validator: private}
- {pattern: "**", validator: allow}`, nil},
		{"Docker Hub short names", "", `- {pattern: "acme/*", validator: private}`, nil},
		{"wildcard everything", "", `- {pattern: "**", validator: private}`, []string{
			`validators[0].auth.registries: is required: rules[0] (pattern "**") matches images on any registry, and validator "private" would offer the credentials of Secret "regcred" to all of them; list the registries they are for, e.g. registries: ["ghcr.io"]`}},
		{"wildcard subdomain", "", `- {pattern: "ghcr.io/acme/**", validator: private}
- {pattern: "*.example.com/**", validators: [private, allow]}`, []string{
			`validators[0].auth.registries: is required: rules[1] (pattern "*.example.com/**")`}},
		{"wildcard in the port", "", `- {pattern: "registry.example.com:*/app", validator: private}`, []string{
			`validators[0].auth.registries: is required: rules[0]`}},
		{"wildcard with registries listed", `, registries: [ghcr.io, "registry.example.com:5000", "GHCR.io:443"]`, `- {pattern: "**", validator: private}`, nil},
		{"bad entries", `, registries: ["https://ghcr.io", "ghcr.io/acme", "*.example.com", "", "host:"]`, `- {pattern: "**", validator: private}`, []string{
			`validators[0].auth.registries[0]: "https://ghcr.io" is not a registry host[:port] (no scheme)`,
			`validators[0].auth.registries[1]: "ghcr.io/acme" is not a registry host[:port] (no path)`,
			`validators[0].auth.registries[2]: "*.example.com" is not a registry host[:port] (exact hosts only, no wildcards)`,
			`validators[0].auth.registries[3]: "" is not a registry host[:port] (empty)`,
			`validators[0].auth.registries[4]: "host:" is not a registry host[:port]`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := policy.Parse([]byte(authPolicy(key.PEM, tc.auth, tc.rules)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = policy.Compile(doc, registry.MustNew(), policy.WithSecretKeychains(secrets))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("compiled, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

// TestAuthCredentialsStayOnTheirRegistries: a validator's credentials are
// offered to the registries they are for and never to another, even one
// the rule's pattern matches and that asks for credentials (an attacker's
// registry challenging for basic auth).
func TestAuthCredentialsStayOnTheirRegistries(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	private := testutil.NewRegistry(t, false)
	signed := private.PushImage(t, "team/app:v1")
	testutil.SignLegacy(t, signed, key)
	private.RequireBasicAuth("sig-reader", "pw")
	attacker := testutil.NewRegistry(t, false)
	baitDigest := attacker.PushImage(t, "team/app:v1")
	testutil.SignLegacy(t, baitDigest, key)
	attacker.RequireBasicAuth("anyone", "anything") // challenges every request

	secrets := secretKeychains{"regcred": registry.NewKeychain(basic{"sig-reader", "pw"})}
	// Both registries over HTTPS (credentials are never sent over plain
	// HTTP), so an Authorization header the attacker's registry received
	// would be a leak of the scoping, not something the transport stopped.
	cas := append(append([]byte(nil), private.CA...), attacker.CA...)
	anonymous := registry.MustNew(registry.WithKeychain(authn.NewMultiKeychain()), registry.WithCABundle(cas))
	img := private.TLSHost + "/team/app@" + signed.DigestStr()
	bait := attacker.TLSHost + "/team/app@" + baitDigest.DigestStr()
	tests := []struct {
		name, auth, rules string
	}{
		{"auth.registries with a catch-all rule", `, registries: ["` + private.TLSHost + `"]`, `- {pattern: "**", validator: private}`},
		{"hosts from patterns", "", `- {pattern: "` + private.TLSHost + `/**", validator: private}
- {pattern: "` + attacker.TLSHost + `/**", validator: signed}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := policy.Parse([]byte(strings.Replace(authPolicy(key.PEM, tc.auth, tc.rules), "- {name: allow", `- name: signed
  type: cosign
  trustRoots:
  - name: ci
    key: |
      `+testutil.Indent(key.PEM, 6)+`
- {name: allow`, 1)))
			if err != nil {
				t.Fatal(err)
			}
			eng, err := policy.Compile(doc, anonymous, policy.WithSecretKeychains(secrets))
			if err != nil {
				t.Fatal(err)
			}
			attacker.Reset()
			if d := eng.Evaluate(context.Background(), img); d.Outcome != verify.Verified {
				t.Errorf("private registry: %s (%s), want verified", d.Outcome, d.Reason)
			}
			if d := eng.Evaluate(context.Background(), bait); d.Allowed {
				t.Errorf("attacker's registry: allowed (%s)", d.Reason)
			}
			if attacker.Requests() == 0 {
				t.Fatal("the attacker's registry was never asked")
			}
			for i, a := range attacker.Authorizations() {
				if a != "" {
					t.Errorf("request %d to the attacker's registry carried Authorization %q", i, a)
				}
			}
		})
	}
}

package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// TestKeylessPolicy: a policy with keyless trust roots and an inline or
// file trusted root, end to end through the engine.
func TestKeylessPolicy(t *testing.T) {
	t.Parallel()
	ss, err := fixture.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	trJSON, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "trusted-root.json")
	if err := os.WriteFile(file, trJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	reg := testutil.NewRegistry(t, true)
	alice := reg.PushImage(t, "demo/app:alice")
	bob := reg.PushImage(t, "demo/app:bob")
	for img, id := range map[string]string{"alice": "alice@example.test", "bob": "bob@example.test"} {
		d := alice
		if img == "bob" {
			d = bob
		}
		if err := ss.SignLegacyKeyless(d, id, "https://issuer.example.test", fixture.KeylessOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, material := range []string{"trustedRoot: " + strconv.Quote(string(trJSON)), "trustedRootFile: " + file} {
		eng := compileYAML(t, `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
insecureRegistries: [`+reg.Host+`]
validators:
- name: keyless
  type: cosign
  `+material+`
  trustRoots:
  - name: alice
    keyless: {issuer: "https://issuer.example.test", subject: alice@example.test}
rules:
- pattern: "`+reg.Host+`/**"
  validator: keyless
  with: {verifySCT: false}
`)
		for ref, want := range map[string]verify.Outcome{"demo/app:alice": verify.Verified, "demo/app:bob": verify.Failed} {
			d := eng.Evaluate(context.Background(), reg.Ref(t, ref).String())
			if d.Outcome != want {
				t.Errorf("%s with %.20s…: outcome %s, want %s (%s)", ref, material, d.Outcome, want, d.Reason)
			}
		}
	}
}

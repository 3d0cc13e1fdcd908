package helm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
)

// TestSelfVerification: selfVerification.key adds a cosign validator
// trusting the release key and a rule per repository of signet's image
// (default: image.repository) to the policy the chart serves; unset, the
// policy is the policy value as written. test/e2e's TestDogfood runs the
// rendered policy against signet's released image.
func TestSelfVerification(t *testing.T) {
	t.Parallel()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
	withKey := []string{"--set-json", "selfVerification.key=" + string(key)}

	// compile renders the chart with args and returns the compiled policy.
	compile := func(t *testing.T, args ...string) (*policy.Engine, string) {
		t.Helper()
		out, err := helm(t, append(templateArgs(), append(args, "--show-only", "templates/configmap.yaml")...)...)
		if err != nil {
			t.Fatalf("helm template: %v\n%s", err, out)
		}
		objs := map[string]any{}
		if err := yaml.Unmarshal([]byte(out), &objs); err != nil {
			t.Fatal(err)
		}
		text, _ := get(objs, "data", "policy.yaml").(string)
		doc, err := policy.Parse([]byte(text))
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		e, err := policy.Compile(doc, registry.MustNew())
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		return e, text
	}
	validator := func(t *testing.T, e *policy.Engine, image string) string {
		t.Helper()
		ref, err := imageref.Parse(image)
		if err != nil {
			t.Fatal(err)
		}
		_, v, _ := e.Match(ref)
		return v
	}
	const digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

	t.Run("unset adds nothing", func(t *testing.T) {
		e, text := compile(t)
		if strings.Contains(text, "signet-release") {
			t.Errorf("policy without selfVerification.key:\n%s", text)
		}
		if v := validator(t, e, "ghcr.io/signet-dev/signet:v1"); v != "deny" {
			t.Errorf("signet's image: validator %q, want deny", v)
		}
	})
	t.Run("key verifies image.repository", func(t *testing.T) {
		e, _ := compile(t, withKey...)
		for image, want := range map[string]string{
			"ghcr.io/signet-dev/signet:v1":          "signet-release",
			"ghcr.io/signet-dev/signet" + digest:    "signet-release",
			"ghcr.io/signet-dev/signet:v1" + digest: "signet-release",
			"ghcr.io/signet-dev/signet-other:v1":    "deny",
			"ghcr.io/signet-dev/signet/sub:v1":      "deny",
			"registry.k8s.io/pause:3.10":            "allow",
		} {
			if v := validator(t, e, image); v != want {
				t.Errorf("%s: validator %q, want %q", image, v, want)
			}
		}
	})
	t.Run("repositories replace image.repository", func(t *testing.T) {
		e, _ := compile(t, append(withKey, "--set-json", `selfVerification.repositories=["registry.example.com/platform/signet","mirror.example.com/signet"]`)...)
		for image, want := range map[string]string{
			"registry.example.com/platform/signet:v1": "signet-release",
			"mirror.example.com/signet" + digest:      "signet-release",
			"ghcr.io/signet-dev/signet:v1":            "deny",
		} {
			if v := validator(t, e, image); v != want {
				t.Errorf("%s: validator %q, want %q", image, v, want)
			}
		}
	})
	t.Run("schema", func(t *testing.T) {
		for _, set := range []string{`selfVerification.key="not a key"`, `selfVerification.repositories=[""]`, `selfVerification.other=1`} {
			out, err := helm(t, append(templateArgs(), "--set-json", set)...)
			if err == nil || !strings.Contains(out, "schema") {
				t.Errorf("--set-json %s: %v; want a schema error\n%s", set, err, out[:min(len(out), 300)])
			}
		}
	})
}

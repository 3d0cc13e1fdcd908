package interop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

const validPrefix = "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\n"

// TestBadInput: every malformed input exits 2 with a message naming the
// field or argument, and nothing panics.
func TestBadInput(t *testing.T) {
	t.Parallel()
	okPolicy := validPrefix + "validators: [{name: allow, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: allow}]\n"
	tests := []struct {
		name   string
		policy string
		args   []string
		want   string
	}{
		{"malformed reference", okPolicy, []string{"ghcr.io/Org/App:v1"}, "image argument 1: invalid image reference"},
		{"malformed digest", okPolicy, []string{"nginx@sha256:abc"}, "invalid image reference"},
		{"empty reference", okPolicy, []string{""}, "invalid image reference"},
		{"broken YAML", "validators: [\n  - {", []string{"nginx"}, "not valid YAML"},
		{"unknown field", validPrefix + "validators: [{name: a, type: static, approve: true, colour: red}]\nrules: [{pattern: \"**\", validator: a}]\n", []string{"nginx"}, "validators[0].colour: unknown field"},
		{"duplicate names", validPrefix + "validators: [{name: a, type: static, approve: true}, {name: a, type: static, approve: false}]\nrules: [{pattern: \"**\", validator: a}]\n", []string{"nginx"}, `validators[1].name: duplicate validator name "a"`},
		{"bad PEM", validPrefix + "validators: [{name: c, type: cosign, trustRoots: [{name: k, key: \"-----BEGIN PUBLIC KEY-----\\nnope\\n-----END PUBLIC KEY-----\"}]}]\nrules: [{pattern: \"**\", validator: c}]\n", []string{"nginx"}, "validators[0].trustRoots[0].key"},
		{"empty trust roots", validPrefix + "validators: [{name: c, type: cosign, trustRoots: []}]\nrules: [{pattern: \"**\", validator: c}]\n", []string{"nginx"}, "validators[0].trustRoots: at least one trust root is required"},
		{"unknown validator", validPrefix + "validators: [{name: a, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: a}, {pattern: \"x/*\", validator: b}]\n", []string{"nginx"}, `rules[1].validator: unknown validator "b"`},
		{"bad output flag", okPolicy, []string{"--output", "yaml", "nginx"}, "--output must be text or json"},
		{"bad timeout", okPolicy, []string{"--timeout", "-1s", "nginx"}, "--timeout must be positive"},
		{"no images", okPolicy, nil, "requires at least 1 arg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "policy.yaml")
			os.WriteFile(p, []byte(tc.policy), 0o600)
			code, _, stderr := runSignet(t, append([]string{"verify", "--policy", p}, tc.args...)...)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, stderr)
			}
			if !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "panic") {
				t.Errorf("stderr %q does not contain %q", stderr, tc.want)
			}
		})
	}
	t.Run("missing policy file", func(t *testing.T) {
		code, _, stderr := runSignet(t, "verify", "--policy", "/nonexistent/policy.yaml", "nginx")
		if code != 2 || !strings.Contains(stderr, "no such file") {
			t.Errorf("exit %d stderr %s", code, stderr)
		}
	})
}

// TestStaticAndSpecificity: static rules decide without the network (the
// registry here does not exist), and the most specific rule beats a
// broader allow wherever it appears.
func TestStaticAndSpecificity(t *testing.T) {
	t.Parallel()
	reg := harness.StartDistribution(t)
	h := reg.Host
	harness.Push(t, h, "team/app:v1")
	dead := harness.FreeAddr(t) // nothing listens here
	policy := validPrefix + `validators:
- {name: allow, type: static, approve: true}
- {name: deny, type: static, approve: false}
- name: signed
  type: cosign
  trustRoots:
  - name: k
    key: |
      ` + strings.ReplaceAll(strings.TrimSpace(testutil.NewKey(t).PEM), "\n", "\n      ") + `
rules:
- {pattern: "**", validator: allow}
- {pattern: "` + h + `/team/*", validator: signed}
- {pattern: "` + dead + `/blocked/**", validator: deny}
`
	harness.Bin(t, "signet") // built before the clock starts
	start := time.Now()
	code, ds, se := signet(t, policy, dead+"/any/image:v1", dead+"/blocked/image:v1")
	if time.Since(start) > 5*time.Second {
		t.Errorf("static decisions took %s", time.Since(start))
	}
	if code != 1 || len(ds) != 2 {
		t.Fatalf("exit %d, %d decisions; %s", code, len(ds), se)
	}
	if !ds[0].Allowed || ds[0].Outcome != verify.Static || ds[1].Allowed || ds[1].Outcome != verify.Static {
		t.Errorf("decisions: %+v", ds)
	}
	code, ds, se = signet(t, policy, h+"/team/app:v1")
	d := one(t, ds)
	expect(t, code, d, se, 1, verify.Failed, "")
	if d.Rule != h+"/team/*" {
		t.Errorf("rule %q, want the specific one", d.Rule)
	}
}

// TestTextOutput checks the human table is printed with reasons.
func TestTextOutput(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(p, []byte(validPrefix+"validators: [{name: allow, type: static, approve: true}]\nrules: [{pattern: \"ghcr.io/**\", validator: allow}]\n"), 0o600)
	code, stdout, stderr := runSignetRaw(t, "verify", "--policy", p, "--output", "text", "ghcr.io/org/app:v1", "quay.io/x/y:1")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"IMAGE", "DECISION", "ghcr.io/org/app:v1  allowed", "quay.io/x/y:1       denied", "no policy rule matches quay.io/x/y:1"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
}

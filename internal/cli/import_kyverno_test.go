package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/cli"
	"github.com/signet-dev/signet/internal/policy"
)

// TestImportKyverno: signet import kyverno writes a policy that lints,
// lists the notes on stderr and exits 0; input it cannot read exits 2.
func TestImportKyverno(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	in := write("kyverno.yaml", `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: verify}
spec:
  validationFailureAction: Enforce
  rules:
  - name: images
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["ghcr.io/acme/*"]
      attestors:
      - entries:
        - keyless: {issuer: https://token.actions.githubusercontent.com, subject: https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main}
`)
	out := filepath.Join(dir, "policy.yaml")
	var stdout, stderr bytes.Buffer
	if code := cli.Execute(context.Background(), []string{"import", "kyverno", in, "-o", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if r := policy.Lint(data); !r.Valid() || !strings.Contains(string(data), "pattern: ghcr.io/acme/**") {
		t.Fatalf("policy %v:\n%s", r.Errors, data)
	}
	if s := stderr.String(); !strings.Contains(s, "converted from kyverno with") || !strings.Contains(s, "match/exclude") {
		t.Errorf("stderr: %s", s)
	}
	for _, bad := range []string{write("bad.yaml", "a: ["), write("other.yaml", "apiVersion: v1\nkind: ConfigMap\n"), filepath.Join(dir, "missing.yaml")} {
		stdout.Reset()
		stderr.Reset()
		if code := cli.Execute(context.Background(), []string{"import", "kyverno", bad}, &stdout, &stderr); code != 2 || stdout.Len() != 0 {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", bad, code, stdout.String(), stderr.String())
		}
	}
}

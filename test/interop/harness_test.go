package interop

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/test/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}

// signet runs the built binary with a policy and decodes its JSON output.
func signet(t *testing.T, policyYAML string, args ...string) (int, []policy.Decision, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(harness.ListInsecure(policyYAML, args...)), 0o600); err != nil {
		t.Fatal(err)
	}
	full := append([]string{"verify", "--policy", p, "--output", "json"}, args...)
	return runSignet(t, full...)
}

func runSignet(t *testing.T, args ...string) (int, []policy.Decision, string) {
	t.Helper()
	code, stdout, stderr := runSignetRaw(t, args...)
	var ds []policy.Decision
	if len(stdout) > 0 {
		if err := json.Unmarshal([]byte(stdout), &ds); err != nil {
			t.Fatalf("decoding output: %v\n%s", err, stdout)
		}
	}
	return code, ds, stderr
}

// runSignetRaw runs the built binary and returns its exit code and output.
func runSignetRaw(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(harness.Bin(t, "signet"), args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
	return harness.ExitCode(t, cmd)
}

// cosignPolicy returns a policy whose rule for pattern uses a cosign
// validator trusting the given named keys, with extra "with" options.
func sortedNames(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func cosignPolicy(pattern string, keys map[string]string, with string) string {
	var b strings.Builder
	b.WriteString("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators:\n- name: signed\n  type: cosign\n  trustRoots:\n")
	for _, n := range sortedNames(keys) {
		fmt.Fprintf(&b, "  - name: %s\n    key: |\n      %s\n", n, strings.ReplaceAll(strings.TrimSpace(keys[n]), "\n", "\n      "))
	}
	b.WriteString("- {name: allow, type: static, approve: true}\nrules:\n")
	fmt.Fprintf(&b, "- pattern: %q\n  validator: signed\n", pattern)
	if with != "" {
		fmt.Fprintf(&b, "  with: %s\n", with)
	}
	return b.String()
}

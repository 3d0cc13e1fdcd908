package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/cli"
)

// TestVerifyPolicyKinds: signet verify --policy reads a file of kind
// ImagePolicy or ClusterImagePolicy alike, and refuses a resource
// (spec:) saying where its fields belong.
func TestVerifyPolicyKinds(t *testing.T) {
	t.Parallel()
	const body = "validators: [{name: s, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: s}]\n"
	for _, tc := range []struct {
		name, policy string
		code         int
		stderr       string
	}{
		{"ImagePolicy", "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\n" + body, 0, ""},
		{"ClusterImagePolicy", "apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\n" + body, 0, ""},
		{"resource", "apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {name: p}\nspec:\n" + strings.ReplaceAll("  "+body, "\nr", "\n  r"), 2,
			"4:1: spec: a policy file holds the spec's fields (validators, rules…) at its top level"},
	} {
		p := filepath.Join(t.TempDir(), "policy.yaml")
		if err := os.WriteFile(p, []byte(tc.policy), 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := cli.Execute(context.Background(), []string{"verify", "--policy", p, "registry.internal:5000/app:v1"}, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.name, code, stderr.String(), tc.code, tc.stderr)
		}
	}
}

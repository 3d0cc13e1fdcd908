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

// TestVerifyWarnsOfInsecureRegistries: a policy listing insecureRegistries
// makes signet verify print one warning naming them on stderr, and none
// without.
func TestVerifyWarnsOfInsecureRegistries(t *testing.T) {
	t.Parallel()
	for list, want := range map[string]string{
		"insecureRegistries: [registry.internal:5000, 10.0.0.7]\n": "warning: the policy lets signet reach these registries over plain HTTP (insecureRegistries): registry.internal:5000, 10.0.0.7\n",
		"": "",
	} {
		p := filepath.Join(t.TempDir(), "policy.yaml")
		os.WriteFile(p, []byte("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\n"+list+
			"validators: [{name: s, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: s}]\n"), 0o600)
		var stdout, stderr bytes.Buffer
		code := cli.Execute(context.Background(), []string{"verify", "--policy", p, "registry.internal:5000/app:v1"}, &stdout, &stderr)
		if code != 0 || stderr.String() != want {
			t.Errorf("policy with %q: exit %d, stderr %q, want 0 and %q", strings.TrimSpace(list), code, stderr.String(), want)
		}
	}
}

// TestVerifyPolicySource: where signet verify's policy comes from, and
// what each source needs.
func TestVerifyPolicySource(t *testing.T) {
	t.Parallel()
	kubeconfig := filepath.Join(t.TempDir(), "missing-kubeconfig")
	for _, tc := range []struct {
		args []string
		code int
		has  string
	}{
		{[]string{"verify", "nginx"}, 2, "--policy is required (or --kubeconfig, for the cluster's policies)"},
		{[]string{"verify", "--policy-source", "cluster", "nginx"}, 2, "--policy-source=cluster needs --kubeconfig"},
		{[]string{"verify", "--policy-source", "everywhere", "--policy", "p.yaml", "nginx"}, 2, `--policy-source must be file or cluster, got "everywhere"`},
		{[]string{"verify", "--policy-source", "file", "--kubeconfig", kubeconfig, "nginx"}, 2, "--policy is required"},
		// --kubeconfig without --policy: the cluster's policies.
		{[]string{"verify", "--kubeconfig", kubeconfig, "--namespace", "team-a", "nginx"}, 2, "--kubeconfig"},
	} {
		var stdout, stderr bytes.Buffer
		code := cli.Execute(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.has) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.has)
		}
	}
}

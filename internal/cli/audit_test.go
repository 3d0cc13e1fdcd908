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

// TestAuditUsage: bad flags, a missing policy and an unreadable
// kubeconfig exit 2 with a message, before anything is listed. (The
// listing and the decisions run through a real kube-apiserver in
// test/e2e, TestAuditCluster.)
func TestAuditUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.yaml")
	os.WriteFile(good, []byte("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators: [{name: s, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: s}]\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "cluster"}, "--policy is required"},
		{[]string{"audit", "cluster", "-p", good, "-o", "yaml"}, "--output must be text or json"},
		{[]string{"audit", "cluster", "-p", good, "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"audit", "cluster", "-p", good, "extra"}, "unknown command"},
		{[]string{"audit", "cluster", "-p", filepath.Join(dir, "none.yaml")}, "none.yaml"},
		{[]string{"audit", "cluster", "-p", good, "--kubeconfig", filepath.Join(dir, "none.kubeconfig")}, "--kubeconfig"},
	} {
		var stdout, stderr bytes.Buffer
		code := cli.Execute(context.Background(), tc.args, &stdout, &stderr)
		if code != cli.ExitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("signet %v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

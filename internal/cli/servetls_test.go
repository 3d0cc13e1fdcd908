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

// TestServeTLSFlags: the TLS flags of signet serve are checked before
// anything starts; each mistake is a usage error (exit 2) naming it.
func TestServeTLSFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--policy", "p.yaml"}, "--tls-cert and --tls-key are required"},
		{[]string{"--policy", "p.yaml", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key are required"},
		{[]string{"--policy", "p.yaml", "--tls-mode", "auto"}, `--tls-mode: want files or managed, got "auto"`},
		{[]string{"--policy", "p.yaml", "--tls-mode", "managed", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--mutating-webhook-configuration", "signet"}, "--tls-cert and --tls-key are for --tls-mode=files"},
		{[]string{"--policy", "p.yaml", "--tls-mode", "managed", "--namespace", "signet"}, "needs --mutating-webhook-configuration or --validating-webhook-configuration"},
		{[]string{"--policy", "p.yaml", "--tls-mode", "managed", "--namespace", "", "--validating-webhook-configuration", "signet"}, "needs --namespace, --tls-secret and --tls-service"},
		{[]string{"--policy", "p.yaml", "--tls-mode", "managed", "--namespace", "signet", "--tls-secret", "", "--validating-webhook-configuration", "signet"}, "needs --namespace, --tls-secret and --tls-service"},
		{[]string{"--tls-mode", "managed"}, "--policy is required"},
	} {
		var stdout, stderr bytes.Buffer
		code := cli.Execute(context.Background(), append([]string{"serve"}, tc.args...), &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// TestServePolicySourceFlags: --policy-source takes file or cluster; file
// needs --policy, cluster needs the API; each mistake is a usage error.
func TestServePolicySourceFlags(t *testing.T) {
	t.Parallel()
	tls := []string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--policy-source", "crds"}, `--policy-source: want file or cluster, got "crds"`},
		{[]string{"--policy-source", "file"}, "--policy is required (or --policy-source=cluster)"},
		{[]string{"--policy-source", "cluster", "--kubeconfig", "/nonexistent/kubeconfig"}, "--policy-source=cluster needs the Kubernetes API"},
	} {
		var stdout, stderr bytes.Buffer
		code := cli.Execute(context.Background(), append(append([]string{"serve"}, tls...), tc.args...), &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// TestServeAlertsFlag: an alerts file that does not load stops signet
// serve before it starts, as a usage error naming the line.
func TestServeAlertsFlag(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "alerts.yaml")
	os.WriteFile(bad, []byte("sinks:\n  - name: s\n    type: pager\n"), 0o600)
	for _, tc := range []struct{ file, want string }{
		{bad, "line 3: sinks[0].type"},
		{"/nonexistent/alerts.yaml", "reading alerts"},
	} {
		var stdout, stderr bytes.Buffer
		code := cli.Execute(context.Background(), []string{"serve", "--policy", "p.yaml", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--alerts", tc.file}, &stdout, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want 2 and %q", tc.file, code, stderr.String(), tc.want)
		}
	}
}

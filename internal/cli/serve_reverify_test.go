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

func TestServeReverifyUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.yaml")
	os.WriteFile(good, []byte("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators: [{name: s, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: s}]\n"), 0o600)
	base := []string{"serve", "-p", good, "--tls-cert", filepath.Join(dir, "c.pem"), "--tls-key", filepath.Join(dir, "k.pem"), "--metrics-addr", ""}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--reverify-action", "delete"}, `--reverify-action: want report or evict, got "delete"`},
		{[]string{"--reverify-interval", "-1s"}, "--reverify-interval: must not be negative"},
		{[]string{"--reverify-concurrency", "0"}, "--reverify-concurrency: want 1 to 256"},
		{[]string{"--reverify-concurrency", "1000"}, "--reverify-concurrency: want 1 to 256"},
		{[]string{"--reverify-evictions-per-minute", "0"}, "--reverify-evictions-per-minute: want 1 to 6000"},
		{[]string{"--key-check-interval", "-5s"}, "--key-check-interval: must not be negative"},
		{[]string{"--reverify-lease", ""}, "--reverify-lease: must not be empty"},
	} {
		var stdout, stderr bytes.Buffer
		code := cli.Execute(context.Background(), append(base, tc.args...), &stdout, &stderr)
		if code != cli.ExitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("signet serve %v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

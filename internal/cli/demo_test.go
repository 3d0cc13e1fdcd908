package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/signet-dev/signet/internal/cli"
)

// TestDemoCreatesDir: signet demo --dir creates a directory that does not
// exist yet and leaves the key and policy there; a --dir that cannot be
// created is a usage error.
func TestDemoCreatesDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "new", "demo")
	var stdout, stderr bytes.Buffer
	if code := cli.Execute(context.Background(), []string{"demo", "--dir", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	for _, f := range []string{"cosign.pub", "policy.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	stderr.Reset()
	if code := cli.Execute(context.Background(), []string{"demo", "--dir", filepath.Join(file, "sub")}, &stdout, &stderr); code != cli.ExitUsage {
		t.Errorf("--dir under a file: exit %d, want %d (%s)", code, cli.ExitUsage, stderr.String())
	}
}

package harness

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Notation is an isolated configuration for the pinned notation CLI
// ($XDG_CONFIG_HOME and $HOME in Dir).
type Notation struct{ Dir string }

// NewNotation returns a Notation with a fresh configuration directory.
func NewNotation(t testing.TB) *Notation { return &Notation{Dir: t.TempDir()} }

// Run runs notation with this configuration and fails the test on error.
func (n *Notation) Run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(Tool(t, "notation"), args...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+n.Dir, "HOME="+n.Dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("notation %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestCert makes the default signing key with `notation cert
// generate-test` and returns its certificate (PEM), which is its own CA.
func (n *Notation) TestCert(t testing.TB, name string) string {
	t.Helper()
	n.Run(t, "cert", "generate-test", "--default", name)
	b, err := os.ReadFile(filepath.Join(n.Dir, "notation", "localkeys", name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

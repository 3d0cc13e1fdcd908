package check

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	checkpkg "github.com/signet-dev/signet/internal/check"
	"github.com/signet-dev/signet/test/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}

// env is a distribution registry with images signed by cosign v2 and a
// policy trusting the key, for the repositories under HOST/signed/, and
// the same key required under HOST/unsigned/.
type env struct {
	host, policy string
	sign         func(name.Digest)
}

func newEnv(t *testing.T) *env {
	t.Helper()
	reg := harness.StartDistribution(t)
	c := harness.NewCosign(t)
	key, pub := c.GenKey(t, harness.Tool(t, "cosign2"), "ci")
	e := &env{host: reg.Host}
	policy := "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators:\n- name: signed\n  type: cosign\n  trustRoots:\n  - name: ci\n    key: |\n      " +
		strings.ReplaceAll(strings.TrimSpace(pub), "\n", "\n      ") + "\nrules:\n" +
		"- {pattern: \"" + reg.Host + "/signed/**\", validator: signed}\n" +
		"- {pattern: \"" + reg.Host + "/unsigned/**\", validator: signed}\n"
	e.policy = filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(e.policy, []byte(harness.ListInsecure(policy)), 0o600); err != nil {
		t.Fatal(err)
	}
	e.sign = func(img name.Digest) { c.SignV2(t, key, img) }
	return e
}

// check pipes stdin to signet check -f - with args and returns its exit
// code and output.
func (e *env) check(t *testing.T, stdin []byte, args ...string) (int, string, string) {
	t.Helper()
	return e.signet(t, bytes.NewReader(stdin), append([]string{"-f", "-"}, args...)...)
}

// checkFiles runs signet check with args (files named by -f).
func (e *env) checkFiles(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return e.signet(t, nil, args...)
}

func (e *env) signet(t *testing.T, stdin io.Reader, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(harness.Bin(t, "signet"), append([]string{"check", "--policy", e.policy}, args...)...)
	cmd.Stdin = stdin
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
	return harness.ExitCode(t, cmd)
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(harness.Tool(t, name), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

func report(t *testing.T, stdout string) checkpkg.Report {
	t.Helper()
	var r checkpkg.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("decoding the report: %v\n%s", err, stdout)
	}
	return r
}

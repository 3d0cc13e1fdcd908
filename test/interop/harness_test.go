package interop

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signet-dev/signet/internal/policy"
)

var (
	root      = repoRoot()
	binDir    string
	toolMu    sync.Mutex
	toolPaths = map[string]string{}
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "signet-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	for pkg, out := range map[string]string{"./cmd/signet": "signet", "./test/registry": "referrers-registry"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, out), pkg)
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", pkg, err, b)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// tool returns the path of a pinned third-party CLI, building it on first
// use (hack/tool.sh caches builds across runs).
func tool(t *testing.T, name string) string {
	t.Helper()
	toolMu.Lock()
	defer toolMu.Unlock()
	if p, ok := toolPaths[name]; ok {
		return p
	}
	cmd := exec.Command(filepath.Join(root, "hack", "tool.sh"), name)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/tool.sh %s: %v\n%s", name, err, stderr.String())
	}
	p := strings.TrimSpace(string(out))
	toolPaths[name] = p
	return p
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not come up", url)
}

// registryProc is a registry process on loopback.
type registryProc struct {
	Host string
	cmd  *exec.Cmd
}

// Stop kills the registry; later requests are refused.
func (r *registryProc) Stop() {
	if r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
}

// startDistribution runs the distribution registry (v3) with in-memory
// storage. It has no referrers API.
func startDistribution(t *testing.T) *registryProc {
	t.Helper()
	bin := tool(t, "registry")
	addr := freeAddr(t)
	cfg := filepath.Join(t.TempDir(), "config.yml")
	os.WriteFile(cfg, []byte(`version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {inmemory: {}, delete: {enabled: true}}
http: {addr: `+addr+`, secret: interop-test}
`), 0o600)
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &registryProc{Host: addr, cmd: cmd}
	t.Cleanup(r.Stop)
	waitHTTP(t, "http://"+addr+"/v2/")
	return r
}

// startReferrersRegistry runs go-containerregistry's registry, which
// implements the OCI 1.1 referrers API.
func startReferrersRegistry(t *testing.T) *registryProc {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "referrers-registry"), "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &registryProc{cmd: cmd}
	t.Cleanup(r.Stop)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	r.Host = strings.TrimSpace(line)
	waitHTTP(t, "http://"+r.Host+"/v2/")
	return r
}

// push pushes a random image to host/repoTag and returns host/repo@digest.
func push(t *testing.T, host, repoTag string) name.Digest {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return ref.Context().Digest(d.String())
}

// cosignEnv is an isolated home for cosign runs.
type cosignEnv struct {
	dir string
}

func newCosignEnv(t *testing.T) *cosignEnv {
	return &cosignEnv{dir: t.TempDir()}
}

func (c *cosignEnv) run(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(),
		"HOME="+c.dir, "COSIGN_PASSWORD=interop", "COSIGN_YES=true",
		"DOCKER_CONFIG="+filepath.Join(c.dir, ".docker"), "TUF_ROOT="+filepath.Join(c.dir, ".sigstore"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// genKey makes a cosign key pair and returns the private key path and the
// public key PEM.
func (c *cosignEnv) genKey(t *testing.T, bin, prefix string) (string, string) {
	t.Helper()
	c.run(t, bin, "generate-key-pair", "--output-key-prefix", prefix)
	pub, err := os.ReadFile(filepath.Join(c.dir, prefix+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(c.dir, prefix+".key"), string(pub)
}

// signet runs the built binary and decodes its JSON output.
func signet(t *testing.T, policyYAML string, args ...string) (int, []policy.Decision, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(policyYAML), 0o600); err != nil {
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
	cmd := exec.Command(filepath.Join(binDir, "signet"), args...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// cosignPolicy returns a policy whose rule for pattern uses a cosign
// validator trusting the given named keys, with extra "with" options.
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

func sortedNames(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

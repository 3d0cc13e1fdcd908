// Package harness starts the real processes the interop and e2e suites
// run against — registry servers, the signet binary, the pinned cosign
// CLIs — and cleans them up with the test.
package harness

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"

	"github.com/signet-dev/signet/internal/fixture"
)

// Root is the repository root: the nearest directory holding a go.mod
// above the working directory, which go test sets to the package's (file
// names in the binary are no guide: make test builds with -trimpath).
var Root = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			panic("no go.mod above " + wd)
		}
	}
}()

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
	toolMu    sync.Mutex
	toolPaths = map[string]string{}
)

// Bin returns the path of a binary built from this repository: "signet"
// or "referrers-registry". They are built once per test process.
func Bin(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "signet-test-bin-")
		if buildErr != nil {
			return
		}
		for pkg, out := range map[string]string{"./cmd/signet": "signet", "./test/registry": "referrers-registry"} {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, out), pkg)
			cmd.Dir = Root
			if b, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("building %s: %v\n%s", pkg, err, b)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

// Cleanup removes the built binaries (Bin's and ImageBin's); call it from
// TestMain.
func Cleanup() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if imageDir != "" {
		os.RemoveAll(imageDir)
	}
}

// Tool returns the path of a pinned third-party CLI, building it on first
// use (hack/tool.sh caches builds across runs). A module providing several
// commands (trillian) takes the command as well: Tool(t, "trillian",
// "createtree").
func Tool(t testing.TB, name string, cmd ...string) string {
	t.Helper()
	p, err := ToolPath(name, cmd...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// ToolPath is Tool for callers without a test, such as TestMain.
func ToolPath(name string, cmd ...string) (string, error) {
	toolMu.Lock()
	defer toolMu.Unlock()
	key := strings.Join(append([]string{name}, cmd...), " ")
	if p, ok := toolPaths[key]; ok {
		return p, nil
	}
	c := exec.Command(filepath.Join(Root, "hack", "tool.sh"), append([]string{name}, cmd...)...)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return "", fmt.Errorf("hack/tool.sh %s: %v\n%s", key, err, stderr.String())
	}
	p := strings.TrimSpace(string(out))
	toolPaths[key] = p
	return p, nil
}

// FreeAddr returns a loopback address nothing listens on (yet).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// FreeAddrs returns n distinct free loopback addresses for one process
// that listens on several: they are held open until all are chosen, so
// that the kernel cannot hand the same port out twice (FreeAddr called n
// times can, once a port is closed).
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		out[i] = ln.Addr().String()
	}
	return out
}

// WaitHTTP waits until url answers 200.
func WaitHTTP(t testing.TB, client *http.Client, url string) {
	t.Helper()
	WaitStatus(t, client, url, http.StatusOK)
}

// WaitStatus waits until url answers with status code (401 for a registry
// that requires authentication).
func WaitStatus(t testing.TB, client *http.Client, url string, code int) {
	t.Helper()
	if client == nil {
		client = http.DefaultClient
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == code {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer %d", url, code)
}

// Proc is a process started for a test.
type Proc struct {
	Host string
	cmd  *exec.Cmd
}

// Stop kills the process.
func (p *Proc) Stop() {
	if p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
	}
}

// Start starts a process that is killed when the test ends.
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{cmd: cmd}
	t.Cleanup(p.Stop)
	return p
}

// StartDistribution runs the distribution registry (v3) with in-memory
// storage. It has no referrers API.
func StartDistribution(t testing.TB) *Proc {
	t.Helper()
	bin := Tool(t, "registry")
	addr := FreeAddr(t)
	cfg := filepath.Join(t.TempDir(), "config.yml")
	os.WriteFile(cfg, []byte(`version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {inmemory: {}, delete: {enabled: true}}
http: {addr: `+addr+`, secret: test}
`), 0o600)
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	p := Start(t, cmd)
	p.Host = addr
	WaitHTTP(t, nil, "http://"+addr+"/v2/")
	plainHosts.Store(addr, true)
	return p
}

// StartReferrersRegistry runs go-containerregistry's registry, which
// implements the OCI 1.1 referrers API.
func StartReferrersRegistry(t testing.TB) *Proc {
	t.Helper()
	cmd := exec.Command(Bin(t, "referrers-registry"), "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := Start(t, cmd)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	p.Host = strings.TrimSpace(line)
	WaitHTTP(t, nil, "http://"+p.Host+"/v2/")
	plainHosts.Store(p.Host, true)
	return p
}

// plainHosts are the registries StartDistribution and
// StartReferrersRegistry started: plain HTTP on loopback.
var plainHosts sync.Map

// ListInsecure returns policyYAML with the plain-HTTP registries this
// harness started that it or one of images names listed under
// insecureRegistries (signet reaches every other registry over HTTPS
// only). A policy that has the field already is returned as it is.
func ListInsecure(policyYAML string, images ...string) string {
	const kind = "kind: ImagePolicy\n"
	if strings.Contains(policyYAML, "insecureRegistries") || !strings.Contains(policyYAML, kind) {
		return policyYAML
	}
	var hosts []string
	plainHosts.Range(func(k, _ any) bool {
		h := k.(string)
		if strings.Contains(policyYAML, h+"/") || strings.Contains(policyYAML, h+`"`) || slices.ContainsFunc(images, func(img string) bool { return strings.HasPrefix(img, h+"/") }) {
			hosts = append(hosts, strconv.Quote(h))
		}
		return true
	})
	if len(hosts) == 0 {
		return policyYAML
	}
	slices.Sort(hosts)
	return strings.Replace(policyYAML, kind, kind+"insecureRegistries: ["+strings.Join(hosts, ", ")+"]\n", 1)
}

// Push pushes a random image to host/repoTag and returns host/repo@digest.
func Push(t testing.TB, host, repoTag string) name.Digest {
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

// Cosign is an isolated home for cosign runs.
type Cosign struct {
	Dir string
	// Env is added to (and overrides) the environment of every run:
	// SSL_CERT_FILE and DOCKER_CONFIG for a private registry, say.
	Env []string
}

// NewCosign returns a Cosign with a fresh home directory.
func NewCosign(t testing.TB) *Cosign { return &Cosign{Dir: t.TempDir()} }

// Run runs a cosign binary with this home and fails the test on error.
func (c *Cosign) Run(t testing.TB, bin string, args ...string) string {
	t.Helper()
	out, err := c.Try(bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Try runs a cosign binary with this home and returns its combined output,
// and an error quoting it when cosign fails.
func (c *Cosign) Try(bin string, args ...string) (string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(),
		"HOME="+c.Dir, "COSIGN_PASSWORD=interop", "COSIGN_YES=true",
		"DOCKER_CONFIG="+filepath.Join(c.Dir, ".docker"), "TUF_ROOT="+filepath.Join(c.Dir, ".sigstore"))
	cmd.Env = append(cmd.Env, c.Env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// GenKey makes a cosign key pair and returns the private key path and the
// public key PEM.
func (c *Cosign) GenKey(t testing.TB, bin, prefix string) (string, string) {
	t.Helper()
	c.Run(t, bin, "generate-key-pair", "--output-key-prefix", prefix)
	pub, err := os.ReadFile(filepath.Join(c.Dir, prefix+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(c.Dir, prefix+".key"), string(pub)
}

// SignV2 signs img with cosign v2 and a key, without a transparency log,
// on a plain-HTTP loopback registry.
func (c *Cosign) SignV2(t testing.TB, key string, img name.Digest, extra ...string) {
	t.Helper()
	args := append([]string{"sign", "--yes", "--key", key, "--tlog-upload=false", "--allow-insecure-registry", "--allow-http-registry"}, extra...)
	c.Run(t, Tool(t, "cosign2"), append(args, img.String())...)
}

// SignV3 signs with cosign v3's default: a Sigstore bundle as an OCI 1.1
// referrer, offline (an empty signing config: no Fulcio, no Rekor, no TSA).
func (c *Cosign) SignV3(t testing.TB, key string, img name.Digest) {
	t.Helper()
	bin := Tool(t, "cosign3")
	c.Run(t, bin, "signing-config", "create", "--out", "empty-signing-config.json")
	c.Run(t, bin, "sign", "--yes", "--key", key, "--signing-config", "empty-signing-config.json",
		"--allow-insecure-registry", "--allow-http-registry", img.String())
}

// ExitCode runs cmd and returns its exit code, stdout and stderr.
func ExitCode(t testing.TB, cmd *exec.Cmd) (int, string, string) {
	t.Helper()
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

// ExitCodePeak is ExitCode that also measures the command's peak resident
// set size, in bytes: its VmHWM (/proc/PID/status), read every few
// milliseconds while it runs. The rusage of a finished child cannot be
// used: Go starts children with CLONE_VM|CLONE_VFORK, and Linux carries the
// parent's high-water mark into the child's maxrss at exec, so a child
// would report the test process's own peak whenever that is higher. Linux
// only; growth in the last few milliseconds before exit can be missed.
func ExitCodePeak(t testing.TB, cmd *exec.Cmd) (code int, stdout, stderr string, peak int64) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	measured := make(chan int64)
	want, err := filepath.EvalSymlinks(cmd.Path)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		exe := fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid)
		var max int64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			// Until it has executed the command, the child shares the
			// test process's memory and its high-water mark.
			if got, err := os.Readlink(exe); err == nil && got == want {
				b, _ := os.ReadFile(status)
				for line := range strings.Lines(string(b)) {
					var kb int64
					if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil && kb<<10 > max {
						max = kb << 10
					}
				}
			}
			select {
			case <-done:
				measured <- max
				return
			case <-tick.C:
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	peak = <-measured
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String(), peak
}

// SecureRegistry is a distribution registry serving TLS with a private CA
// and requiring basic auth (htpasswd).
type SecureRegistry struct {
	*Proc
	CAPEM      []byte
	User, Pass string
}

// StartSecureDistribution runs the distribution registry with TLS (a
// self-signed certificate for 127.0.0.1 and localhost) and htpasswd
// (bcrypt) authentication.
func StartSecureDistribution(t testing.TB) *SecureRegistry {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM, err := fixture.ServingCert("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "htpasswd"), []byte("alice:"+string(hash)+"\n"), 0o600)
	addr := FreeAddr(t)
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(`version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {inmemory: {}, delete: {enabled: true}}
auth: {htpasswd: {realm: test-realm, path: `+filepath.Join(dir, "htpasswd")+`}}
http: {addr: `+addr+`, secret: test, tls: {certificate: `+filepath.Join(dir, "tls.crt")+`, key: `+filepath.Join(dir, "tls.key")+`}}
`), 0o600)
	cmd := exec.Command(Tool(t, "registry"), "serve", cfg)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	p := Start(t, cmd)
	p.Host = addr
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	WaitStatus(t, client, "https://"+addr+"/v2/", http.StatusUnauthorized)
	return &SecureRegistry{Proc: p, CAPEM: certPEM, User: "alice", Pass: "s3cret"}
}

// RemoteOptions are the go-containerregistry options to push to r.
func (r *SecureRegistry) RemoteOptions() []remote.Option {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(r.CAPEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return []remote.Option{remote.WithTransport(tr), remote.WithAuth(&authn.Basic{Username: r.User, Password: r.Pass})}
}

// CAFile writes r's CA certificate to a file and returns its path (for
// SSL_CERT_FILE or --registry-ca).
func (r *SecureRegistry) CAFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, r.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// DockerConfigJSON is a Docker config holding r's credentials: the content
// of a kubernetes.io/dockerconfigjson Secret.
func (r *SecureRegistry) DockerConfigJSON() []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(r.User + ":" + r.Pass))
	return []byte(`{"auths":{"` + r.Host + `":{"auth":"` + auth + `"}}}`)
}

// DockerConfig writes a Docker config directory holding r's credentials and
// returns it (for $DOCKER_CONFIG).
func (r *SecureRegistry) DockerConfig(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), r.DockerConfigJSON(), 0o600)
	return dir
}

// Release runs hack/release.sh (what make release runs) with c's home for
// cosign, helm and registry credentials, a release directory of the
// test's, a plain-HTTP registry and no transparency log, env added last
// (an entry there overrides one here), and returns its exit code, stdout
// and stderr.
func Release(t testing.TB, c *Cosign, env ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(Root, "hack", "release.sh"))
	cmd.Env = append(os.Environ(),
		"DOCKER_CONFIG="+filepath.Join(c.Dir, ".docker"), "TUF_ROOT="+filepath.Join(c.Dir, ".sigstore"),
		"COSIGN_PASSWORD=interop", "COSIGN_TLOG=false", "IMAGE_INSECURE=1",
		"RELEASE_DIR="+t.TempDir(), "SIGSTORE_ID_TOKEN=", "ACTIONS_ID_TOKEN_REQUEST_URL=", "CHART_REPO=",
		"HELM_CONFIG_HOME="+filepath.Join(c.Dir, ".helm"), "HELM_CACHE_HOME="+filepath.Join(c.Dir, ".helm-cache"))
	cmd.Env = append(cmd.Env, c.Env...)
	cmd.Env = append(cmd.Env, env...)
	return ExitCode(t, cmd)
}

// CopyIndex copies the index src, unsigned, to the tag dst and returns the
// copy by digest (the same digest, another repository).
func CopyIndex(t testing.TB, src name.Digest, dst string) name.Digest {
	t.Helper()
	idx, err := remote.Index(src)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(dst)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatal(err)
	}
	return tag.Context().Digest(src.DigestStr())
}

// Platforms are the digests of the images the index ref lists.
func Platforms(t testing.TB, ref name.Digest) []name.Digest {
	t.Helper()
	idx, err := remote.Index(ref)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []name.Digest
	for _, d := range im.Manifests {
		out = append(out, ref.Context().Digest(d.Digest.String()))
	}
	return out
}

// AttestationPayload is the in-toto statement of the first attestation
// `cosign verify-attestation` printed in out (one DSSE envelope a line).
func AttestationPayload(t testing.TB, out string) []byte {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		var env struct{ Payload []byte }
		if json.Unmarshal([]byte(line), &env) == nil && env.Payload != nil {
			return env.Payload
		}
	}
	t.Fatalf("verify-attestation printed no attestation:\n%s", out)
	return nil
}

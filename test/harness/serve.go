package harness

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/signet-dev/signet/internal/fixture"
)

// Serve is a `signet serve` process started for a test, serving HTTPS on
// a loopback address with a self-signed certificate in Dir.
type Serve struct {
	Addr, MetricsAddr string
	// Dir holds policy.yaml, tls.crt and tls.key.
	Dir                           string
	PolicyFile, CertFile, KeyFile string
	// CertPEM is the serving certificate signet started with.
	CertPEM []byte
	// Log is everything the process wrote to stdout and stderr.
	Log *LogBuffer

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

// StartServe runs `signet serve` with policyYAML, a fresh serving
// certificate for 127.0.0.1, loopback addresses for HTTPS and metrics, no
// Kubernetes API, and args added to the command line. It returns once
// /readyz answers; the process is killed when the test ends.
func StartServe(t testing.TB, policyYAML string, args ...string) *Serve {
	t.Helper()
	dir := t.TempDir()
	s := &Serve{
		Addr: FreeAddr(t), MetricsAddr: FreeAddr(t), Dir: dir,
		PolicyFile: filepath.Join(dir, "policy.yaml"),
		CertFile:   filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
		Log: &LogBuffer{}, exited: make(chan struct{}),
	}
	if err := os.WriteFile(s.PolicyFile, []byte(policyYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	s.CertPEM = s.WriteCert(t)
	cmd := exec.Command(Bin(t, "signet"), append([]string{"serve",
		"--policy", s.PolicyFile, "--tls-cert", s.CertFile, "--tls-key", s.KeyFile,
		"--addr", s.Addr, "--metrics-addr", s.MetricsAddr, "--kubeconfig", filepath.Join(dir, "no-kubeconfig")}, args...)...)
	// No registry credentials from the user running the tests.
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dir, "KUBECONFIG=")
	cmd.Stdout, cmd.Stderr = s.Log, s.Log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd = cmd
	go func() { s.err = cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("signet serve log:\n%s", s.Log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := s.Client(s.CertPEM, 1).Get("https://" + s.Addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("signet serve exited: %v\n%s", s.err, s.Log.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("signet serve did not become ready\n%s", s.Log.String())
		}
	}
}

// WriteCert writes a new self-signed serving certificate for 127.0.0.1
// and its key, each replaced by rename as a Secret volume update does, and
// returns the certificate.
func (s *Serve) WriteCert(t testing.TB) []byte {
	t.Helper()
	certPEM, keyPEM, err := fixture.ServingCert("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	for path, b := range map[string][]byte{s.CertFile: certPEM, s.KeyFile: keyPEM} {
		ReplaceFile(t, path, b)
	}
	return certPEM
}

// ReplaceFile writes b to path through a temporary file and a rename, so
// that a reader never sees half of it.
func ReplaceFile(t testing.TB, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Client returns an HTTPS client that trusts only caPEM, with up to conns
// keep-alive connections (0: a new connection per request).
func (s *Serve) Client(caPEM []byte, conns int) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DisableKeepAlives: conns == 0,
		MaxIdleConns:      conns, MaxIdleConnsPerHost: conns,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// PID is the process's id.
func (s *Serve) PID() int { return s.cmd.Process.Pid }

// Memory returns the process's resident set size now and its peak so far
// (VmRSS and VmHWM of /proc/PID/status), in bytes. Linux only.
func (s *Serve) Memory(t testing.TB) (rss, peak int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.PID()))
	if err != nil {
		t.Fatalf("reading the memory of signet serve: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			rss = kb << 10
		}
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			peak = kb << 10
		}
	}
	return rss, peak
}

// Signal sends sig to the process.
func (s *Serve) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// Wait waits up to d for the process to exit and returns its exit code;
// ok is false when it is still running.
func (s *Serve) Wait(d time.Duration) (code int, ok bool) {
	select {
	case <-s.exited:
	case <-time.After(d):
		return 0, false
	}
	if ee, isExit := errors.AsType[*exec.ExitError](s.err); isExit {
		if ws, isWS := ee.Sys().(syscall.WaitStatus); isWS && ws.Signaled() {
			return 128 + int(ws.Signal()), true
		}
		return ee.ExitCode(), true
	}
	return 0, true
}

// Metrics returns the text of /metrics.
func (s *Serve) Metrics(t testing.TB) string {
	t.Helper()
	resp, err := http.Get("http://" + s.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Review is a Pod CREATE of one container running image, as the API
// server sends it.
func Review(uid, image string) []byte {
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": uid, "kind": map[string]string{"group": "", "version": "v1", "kind": "Pod"},
			"resource":  map[string]string{"group": "", "version": "v1", "resource": "pods"},
			"namespace": "team", "name": "app", "operation": "CREATE",
			"userInfo": map[string]string{"username": "test"},
			"object": map[string]any{"apiVersion": "v1", "kind": "Pod",
				"metadata": map[string]string{"name": "app", "namespace": "team"},
				"spec":     map[string]any{"containers": []any{map[string]string{"name": "app", "image": image}}}},
		},
	})
	return b
}

// Answer is signet's answer to one AdmissionReview.
type Answer struct {
	Status int    // HTTP status
	Body   string // as received
	// Response is the decoded AdmissionResponse; nil unless Status is 200
	// and the body is a whole AdmissionReview.
	Response *admissionv1.AdmissionResponse
	// Patch is the decoded JSON patch of an allowed /mutate answer.
	Patch []PatchOp
}

// PatchOp is one JSON patch operation.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Message is the denial's message, or "".
func (a *Answer) Message() string {
	if a.Response == nil || a.Response.Result == nil {
		return ""
	}
	return a.Response.Result.Message
}

// Admit posts a review of image with uid to webhook ("mutate" or
// "validate"), with the API server's ?timeout= when timeout is set. An
// error with a nil Answer means no answer was received; with an Answer,
// that the answer was cut short (Answer holds what arrived).
func (s *Serve) Admit(ctx context.Context, c *http.Client, webhook, uid, image string, timeout time.Duration) (*Answer, error) {
	url := "https://" + s.Addr + "/" + webhook
	if timeout > 0 {
		url += "?timeout=" + timeout.String()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(Review(uid, image)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	a := &Answer{Status: resp.StatusCode, Body: string(b)}
	if err != nil {
		return a, fmt.Errorf("reading the answer (%d bytes received): %w", len(b), err)
	}
	if resp.StatusCode != http.StatusOK {
		return a, nil
	}
	var ar admissionv1.AdmissionReview
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&ar); err != nil || ar.Response == nil || dec.More() {
		return a, nil // Response stays nil: not a whole review
	}
	a.Response = ar.Response
	if len(ar.Response.Patch) > 0 {
		if err := json.Unmarshal(ar.Response.Patch, &a.Patch); err != nil {
			return a, fmt.Errorf("decoding the patch %s: %w", ar.Response.Patch, err)
		}
	}
	return a, nil
}

// LogBuffer collects a process's output; safe for concurrent use.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Count returns how many lines contain sub.
func (l *LogBuffer) Count(sub string) int {
	n := 0
	for line := range strings.Lines(l.String()) {
		if strings.Contains(line, sub) {
			n++
		}
	}
	return n
}

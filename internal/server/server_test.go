package server_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/server"
	"github.com/signet-dev/signet/internal/testutil"
)

const policyAllow = `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
metadata: {name: %s}
validators: [{name: s, type: static, approve: %t}]
rules: [{pattern: "**", validator: s}]
`

type running struct {
	addr, metricsAddr string
	dir               string
	pool              *x509.CertPool
	cancel            context.CancelFunc
	done              chan error
}

func writeCert(t *testing.T, dir string) []byte {
	t.Helper()
	c, k, err := fixture.ServingCert("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	// Replace atomically, as a Secret volume update does.
	for name, b := range map[string][]byte{"tls.crt": c, "tls.key": k} {
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// start serves policyAllow (allowing) from a file, with each opt applied
// to the configuration.
func start(t *testing.T, opts ...func(*server.Config)) *running {
	t.Helper()
	dir := t.TempDir()
	certPEM := writeCert(t, dir)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte(fmt.Sprintf(policyAllow, "first", true)), 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{dir: dir, pool: pool, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	cfg := server.Config{
		PolicyFile: pol, CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
		Addr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", ReloadInterval: 50 * time.Millisecond, ShutdownGrace: 5 * time.Second,
		Ready: func(a, m string) { r.addr, r.metricsAddr = a, m; close(ready) },
	}
	for _, o := range opts {
		o(&cfg)
	}
	go func() { r.done <- server.Run(ctx, cfg) }()
	select {
	case <-ready:
	case err := <-r.done:
		t.Fatalf("server exited: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	t.Cleanup(func() { cancel(); <-r.done })
	return r
}

func (r *running) client(pool *x509.CertPool) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
}

func (r *running) review(t *testing.T) string {
	t.Helper()
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","namespace":"team","object":{"spec":{"containers":[{"name":"a","image":"ghcr.io/acme/app:v1"}]}}}}`
	resp, err := r.client(r.pool).Post("https://"+r.addr+"/mutate", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func (r *running) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + r.metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestServe(t *testing.T) {
	t.Parallel()
	r := start(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := r.client(r.pool).Get("https://" + r.addr + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, resp, err)
		}
		resp.Body.Close()
	}
	if got := r.review(t); !strings.Contains(got, `"allowed":true`) || !strings.Contains(got, `"uid":"u1"`) {
		t.Errorf("review: %s", got)
	}
	// TLS below 1.2 is refused.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.pool, MaxVersion: tls.VersionTLS11}}}
	if _, err := c.Get("https://" + r.addr + "/healthz"); err == nil {
		t.Error("TLS 1.1 handshake succeeded")
	}
	m := r.metrics(t)
	for _, want := range []string{`signet_admission_requests_total{decision="allowed",kind="Pod",webhook="mutate"} 1`, `signet_verifications_total{outcome="static",validator="s"} 1`, "signet_admission_duration_seconds_bucket", `signet_policy_info{hash=`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestPolicyReload covers replacement by rename, the ConfigMap symlink swap,
// and a broken policy that must leave the previous one serving.
func TestPolicyReload(t *testing.T) {
	t.Parallel()
	r := start(t)
	pol := filepath.Join(r.dir, "policy.yaml")
	denied := func() bool { return strings.Contains(r.review(t), `"allowed":false`) }

	// Replace by rename with a denying policy.
	tmp := pol + ".new"
	os.WriteFile(tmp, []byte(fmt.Sprintf(policyAllow, "second", false)), 0o600)
	os.Rename(tmp, pol)
	eventually(t, "rename reload", denied)

	// Garbage: rejected, counted, the denying policy stays.
	os.WriteFile(pol, []byte("validators: [oops"), 0o600)
	eventually(t, "rejection metric", func() bool {
		return strings.Contains(r.metrics(t), `signet_policy_reloads_total{result="error"} 1`)
	})
	if !denied() {
		t.Fatal("a broken policy replaced the working one")
	}

	// ConfigMap volume: policy.yaml -> ..data/policy.yaml, ..data -> ..v1;
	// an update creates ..v2 and swaps the ..data symlink.
	os.Remove(pol)
	for v, allow := range map[string]bool{"..v1": false} {
		os.MkdirAll(filepath.Join(r.dir, v), 0o755)
		os.WriteFile(filepath.Join(r.dir, v, "policy.yaml"), []byte(fmt.Sprintf(policyAllow, "cm1", allow)), 0o600)
	}
	os.Symlink("..v1", filepath.Join(r.dir, "..data"))
	os.Symlink(filepath.Join("..data", "policy.yaml"), pol)
	os.MkdirAll(filepath.Join(r.dir, "..v2"), 0o755)
	os.WriteFile(filepath.Join(r.dir, "..v2", "policy.yaml"), []byte(fmt.Sprintf(policyAllow, "cm2", true)), 0o600)
	os.Symlink("..v2", filepath.Join(r.dir, "..data_tmp"))
	os.Rename(filepath.Join(r.dir, "..data_tmp"), filepath.Join(r.dir, "..data"))
	eventually(t, "symlink swap reload", func() bool { return !denied() })
	if !strings.Contains(r.metrics(t), `signet_policy_info{hash=`) || !strings.Contains(r.metrics(t), `name="cm2"`) {
		t.Error("policy info metric not updated")
	}
}

// TestCertRotation: new connections see a rotated certificate; a broken
// pair keeps the previous certificate.
func TestCertRotation(t *testing.T) {
	t.Parallel()
	r := start(t)
	newPEM := writeCert(t, r.dir)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(newPEM)
	eventually(t, "rotated certificate", func() bool {
		resp, err := r.client(pool).Get("https://" + r.addr + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	os.WriteFile(filepath.Join(r.dir, "tls.key"), []byte("garbage"), 0o600)
	time.Sleep(200 * time.Millisecond)
	resp, err := r.client(pool).Get("https://" + r.addr + "/healthz")
	if err != nil {
		t.Fatalf("a broken key pair replaced the working certificate: %v", err)
	}
	resp.Body.Close()
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	r := start(t)
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
		r.done <- nil // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
}

// TestDrain: a request in flight when shutdown starts still gets its
// answer; Run returns once it has.
func TestDrain(t *testing.T) {
	t.Parallel()
	r := start(t)
	stalled := testutil.StalledServer(t)
	pol := filepath.Join(r.dir, "policy.yaml")
	os.WriteFile(pol+".new", []byte(testutil.Policy(testutil.NewKey(t).PEM, `- {pattern: "`+stalled+`/**", validator: signed}`)), 0o600)
	os.Rename(pol+".new", pol)
	time.Sleep(300 * time.Millisecond) // two reload intervals

	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-drain","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","namespace":"team","object":{"spec":{"containers":[{"name":"a","image":"` + stalled + `/app:v1"}]}}}}`
	answer := make(chan string, 1)
	go func() {
		resp, err := r.client(r.pool).Post("https://"+r.addr+"/mutate?timeout=2s", "application/json", strings.NewReader(body))
		if err != nil {
			answer <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answer <- string(b)
	}()
	time.Sleep(300 * time.Millisecond) // the request is waiting on the registry
	r.cancel()
	got := <-answer
	if !strings.Contains(got, `"uid":"u-drain"`) || !strings.Contains(got, `"allowed":false`) {
		t.Errorf("in-flight request answered %q", got)
	}
	if err := <-r.done; err != nil {
		t.Errorf("Run returned %v", err)
	}
	r.done <- nil
}

func TestStartupErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeCert(t, dir)
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte("kind: nope"), 0o600)
	err := server.Run(context.Background(), server.Config{PolicyFile: pol, CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), Addr: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "apiVersion") {
		t.Errorf("bad policy: %v", err)
	}
	os.WriteFile(pol, []byte(fmt.Sprintf(policyAllow, "x", true)), 0o600)
	err = server.Run(context.Background(), server.Config{PolicyFile: pol, CertFile: filepath.Join(dir, "missing.crt"), KeyFile: filepath.Join(dir, "tls.key"), Addr: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "TLS certificate") {
		t.Errorf("missing cert: %v", err)
	}
}

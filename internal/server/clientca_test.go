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
)

// startClientCA runs a server whose webhook listener requires client
// certificates from the CA bundle in the file it returns.
func startClientCA(t *testing.T, caPEM []byte) (*running, string) {
	t.Helper()
	dir := t.TempDir()
	certPEM := writeCert(t, dir)
	caFile := filepath.Join(dir, "client-ca.crt")
	writeAtomic(t, caFile, caPEM)
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte(fmt.Sprintf(policyAllow, "first", true)), 0o600)
	r := &running{dir: dir, done: make(chan error, 1), pool: x509.NewCertPool()}
	r.pool.AppendCertsFromPEM(certPEM)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	ready := make(chan struct{})
	go func() {
		r.done <- server.Run(ctx, server.Config{
			PolicyFile: pol, CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), ClientCAFile: caFile,
			Addr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", ReloadInterval: 50 * time.Millisecond, ShutdownGrace: 5 * time.Second,
			Ready: func(a, m string) { r.addr, r.metricsAddr = a, m; close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-r.done:
		t.Fatalf("server exited: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	t.Cleanup(func() { cancel(); <-r.done })
	return r, caFile
}

func writeAtomic(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func newClientCA(t *testing.T) (*fixture.ClientCA, tls.Certificate) {
	t.Helper()
	ca, err := fixture.NewClientCA()
	if err != nil {
		t.Fatal(err)
	}
	c, k, err := ca.Issue("kube-apiserver")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return ca, pair
}

// post sends an AdmissionReview to /mutate presenting certs (none when
// nil), over HTTP/2 when h2.
func (r *running) post(certs []tls.Certificate, h2 bool) (int, string, error) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: r.pool, Certificates: certs}, DisableKeepAlives: true, ForceAttemptHTTP2: h2}
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","namespace":"team","object":{"spec":{"containers":[{"name":"a","image":"ghcr.io/acme/app:v1"}]}}}}`
	resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: tr}).Post("https://"+r.addr+"/mutate", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Proto + " " + string(b), nil
}

func TestClientCA(t *testing.T) {
	t.Parallel()
	ca, good := newClientCA(t)
	_, other := newClientCA(t)
	r, caFile := startClientCA(t, ca.PEM)

	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		ok    bool
	}{
		{"no client certificate", nil, false},
		{"certificate from another CA", []tls.Certificate{other}, false},
		{"certificate from the client CA", []tls.Certificate{good}, true},
	} {
		for _, h2 := range []bool{false, true} {
			code, body, err := r.post(tc.certs, h2)
			switch {
			case tc.ok && (err != nil || code != http.StatusOK || !strings.Contains(body, `"allowed":true`)):
				t.Errorf("%s (h2 %t): %d %s %v, want served", tc.name, h2, code, body, err)
			case tc.ok && h2 && !strings.HasPrefix(body, "HTTP/2"):
				t.Errorf("%s: served over %s, want HTTP/2", tc.name, body)
			case !tc.ok && err == nil:
				t.Errorf("%s (h2 %t): served (%d %s), want the TLS handshake refused", tc.name, h2, code, body)
			}
		}
	}

	// Probes reach the health checks on the metrics address, without a
	// client certificate.
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + r.metricsAddr + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s on the metrics address: %d", p, resp.StatusCode)
		}
	}

	// A rotated bundle: the new CA is accepted, the old one no longer.
	next, rotated := newClientCA(t)
	writeAtomic(t, caFile, next.PEM)
	eventually(t, "the new client CA accepted", func() bool {
		code, _, err := r.post([]tls.Certificate{rotated}, false)
		return err == nil && code == http.StatusOK
	})
	if _, _, err := r.post([]tls.Certificate{good}, false); err == nil {
		t.Error("a certificate of the replaced CA is still accepted")
	}

	// A broken file keeps the bundle in force.
	writeAtomic(t, caFile, []byte("not PEM"))
	time.Sleep(200 * time.Millisecond)
	if code, body, err := r.post([]tls.Certificate{rotated}, false); err != nil || code != http.StatusOK {
		t.Errorf("after a broken bundle was written: %d %s %v, want the previous CA still in force", code, body, err)
	}
}

func TestClientCAErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeCert(t, dir)
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte(fmt.Sprintf(policyAllow, "first", true)), 0o600)
	bad := filepath.Join(dir, "bad.crt")
	os.WriteFile(bad, []byte("not PEM"), 0o600)
	for _, tc := range []struct {
		name, file, metrics, want string
	}{
		{"missing file", filepath.Join(dir, "none.crt"), "127.0.0.1:0", "reading client CA bundle"},
		{"no certificate", bad, "127.0.0.1:0", "no PEM certificate"},
		{"no metrics address for the probes", bad, "", "metrics address"},
	} {
		err := server.Run(context.Background(), server.Config{
			PolicyFile: pol, CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), ClientCAFile: tc.file,
			Addr: "127.0.0.1:0", MetricsAddr: tc.metrics,
		})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

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

	"github.com/signet-dev/signet/internal/server"
)

// startExternalData runs a server with the client CA bundles given (nil:
// the flag unset) and returns it with the bundles' files.
func startExternalData(t *testing.T, webhookCA, externalCA []byte) (r *running, webhookFile, externalFile string) {
	t.Helper()
	dir := t.TempDir()
	certPEM := writeCert(t, dir)
	if webhookCA != nil {
		webhookFile = filepath.Join(dir, "client-ca.crt")
		writeAtomic(t, webhookFile, webhookCA)
	}
	if externalCA != nil {
		externalFile = filepath.Join(dir, "externaldata-client-ca.crt")
		writeAtomic(t, externalFile, externalCA)
	}
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte(fmt.Sprintf(policyAllow, "first", true)), 0o600)
	r = &running{dir: dir, done: make(chan error, 1), pool: x509.NewCertPool()}
	r.pool.AppendCertsFromPEM(certPEM)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	ready := make(chan struct{})
	go func() {
		r.done <- server.Run(ctx, server.Config{
			PolicyFile: pol, CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
			ClientCAFile: webhookFile, ExternalDataClientCAFile: externalFile,
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
	return r, webhookFile, externalFile
}

// externalData POSTs a ProviderRequest as Gatekeeper's client does
// (TLS 1.3, its certificate when it has one).
func (r *running) externalData(certs []tls.Certificate) (int, string, error) {
	tr := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: r.pool, Certificates: certs}, DisableKeepAlives: true}
	body := `{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderRequest","request":{"keys":["ghcr.io/acme/app:v1","ghcr.io/acme/app:v1"]}}`
	resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: tr}).Post("https://"+r.addr+"/externaldata", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestExternalDataClientCA: /externaldata answers only clients with a
// certificate from the external-data CA; the webhook paths keep theirs;
// neither CA's certificate opens the other's paths.
func TestExternalDataClientCA(t *testing.T) {
	t.Parallel()
	apiCA, apiserver := newClientCA(t)
	gkCA, gatekeeper := newClientCA(t)
	_, stranger := newClientCA(t)
	const answered = `{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderResponse","response":{"idempotent":true,"items":[{"key":"ghcr.io/acme/app:v1","value":"ghcr.io/acme/app:v1"}]}}`

	type check struct {
		name  string
		certs []tls.Certificate
		path  string // "/externaldata" or "/mutate"
		code  int    // 0: the handshake fails
		body  string // a substring
	}
	for _, tc := range []struct {
		name                  string
		webhookCA, externalCA []byte
		checks                []check
	}{
		{name: "both", webhookCA: apiCA.PEM, externalCA: gkCA.PEM, checks: []check{
			{"gatekeeper", []tls.Certificate{gatekeeper}, "/externaldata", 200, answered},
			{"API server on external data", []tls.Certificate{apiserver}, "/externaldata", 403, "--externaldata-client-ca"},
			{"no certificate on external data", nil, "/externaldata", 403, "--externaldata-client-ca"},
			{"stranger on external data", []tls.Certificate{stranger}, "/externaldata", 0, ""},
			{"API server on the webhook", []tls.Certificate{apiserver}, "/mutate", 200, `"allowed":true`},
			{"gatekeeper on the webhook", []tls.Certificate{gatekeeper}, "/mutate", 403, "--client-ca"},
			{"no certificate on the webhook", nil, "/mutate", 403, "--client-ca"},
		}},
		{name: "external data only", externalCA: gkCA.PEM, checks: []check{
			{"gatekeeper", []tls.Certificate{gatekeeper}, "/externaldata", 200, answered},
			{"no certificate on external data", nil, "/externaldata", 403, "--externaldata-client-ca"},
			{"API server on external data", []tls.Certificate{apiserver}, "/externaldata", 0, ""},
			{"no certificate on the webhook", nil, "/mutate", 200, `"allowed":true`},
		}},
		{name: "webhook only", webhookCA: apiCA.PEM, checks: []check{
			{"API server on external data", []tls.Certificate{apiserver}, "/externaldata", 403, "external data is off"},
			{"gatekeeper", []tls.Certificate{gatekeeper}, "/externaldata", 0, ""},
		}},
		{name: "neither", checks: []check{
			{"no certificate on external data", nil, "/externaldata", 403, "external data is off"},
			{"gatekeeper", []tls.Certificate{gatekeeper}, "/externaldata", 403, "external data is off"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, _, externalFile := startExternalData(t, tc.webhookCA, tc.externalCA)
			for _, c := range tc.checks {
				var (
					code int
					body string
					err  error
				)
				if c.path == "/externaldata" {
					code, body, err = r.externalData(c.certs)
				} else {
					code, body, err = r.post(c.certs, false)
				}
				switch {
				case c.code == 0 && err == nil:
					t.Errorf("%s: served (%d %s), want the TLS handshake refused", c.name, code, body)
				case c.code != 0 && (err != nil || code != c.code || !strings.Contains(body, c.body)):
					t.Errorf("%s: %d %s %v, want %d with %s", c.name, code, body, err, c.code, c.body)
				}
			}
			if externalFile == "" {
				return
			}
			// A rotated external-data bundle: the new CA is accepted on
			// /externaldata, the old one no longer.
			next, rotated := newClientCA(t)
			writeAtomic(t, externalFile, next.PEM)
			eventually(t, "the new external-data CA accepted", func() bool {
				code, _, err := r.externalData([]tls.Certificate{rotated})
				return err == nil && code == http.StatusOK
			})
			if code, _, err := r.externalData([]tls.Certificate{gatekeeper}); err == nil && code == http.StatusOK {
				t.Error("a certificate of the replaced external-data CA is still accepted")
			}
		})
	}
}

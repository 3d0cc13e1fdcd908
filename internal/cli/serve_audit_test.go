package cli_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/cli"
	"github.com/signet-dev/signet/internal/fixture"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeAuditLog: signet serve with an audit log that cannot be
// written (/dev/full) counts the lost lines in
// signet_audit_write_errors_total and admits per policy; with
// --audit-required it denies with the reason. With a writable file, the
// admission is in the log.
func TestServeAuditLog(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		log      string
		required bool
		allowed  bool
	}{
		{"file", "", true, true},
		{"stdout", "-", false, true},
		{"disk full", "/dev/full", false, true},
		{"disk full, required", "/dev/full", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			c, k, err := fixture.ServingCert("127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, "tls.crt"), c, 0o600)
			os.WriteFile(filepath.Join(dir, "tls.key"), k, 0o600)
			pol := filepath.Join(dir, "policy.yaml")
			os.WriteFile(pol, []byte("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators: [{name: s, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: s}]\n"), 0o600)
			log := tc.log
			if log == "" {
				log = filepath.Join(dir, "audit", "audit.jsonl")
			}
			addr, metricsAddr := freeAddr(t), freeAddr(t)
			args := []string{"serve", "-p", pol, "--tls-cert", filepath.Join(dir, "tls.crt"), "--tls-key", filepath.Join(dir, "tls.key"),
				"--addr", addr, "--metrics-addr", metricsAddr, "--decision-log", "off", "--kubeconfig", filepath.Join(dir, "none"),
				"--audit-log", log, "--audit-instance", "signet-test"}
			if tc.required {
				args = append(args, "--audit-required")
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			var stdout, stderr bytes.Buffer
			go func() { done <- cli.Execute(ctx, args, &stdout, &stderr) }()
			defer func() { cancel(); <-done }()

			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(c)
			client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
			post := func() string {
				body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","namespace":"team","object":{"spec":{"containers":[{"name":"a","image":"ghcr.io/acme/app@sha256:` + strings.Repeat("b", 64) + `"}]}}}}`
				resp, err := client.Post("https://"+addr+"/validate", "application/json", strings.NewReader(body))
				if err != nil {
					return ""
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return string(b)
			}
			var got string
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				got = post()
				// the first answer may come before the genesis line's failure is known
				if got != "" && (tc.allowed || strings.Contains(got, `"allowed":false`)) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no answer as expected: %q\n%s", got, stderr.String())
				}
			}
			if strings.Contains(got, `"allowed":true`) != tc.allowed {
				t.Errorf("answer %s", got)
			}
			if !tc.allowed && !strings.Contains(got, "audit log cannot be written") {
				t.Errorf("reason: %s", got)
			}
			resp, err := http.Get("http://" + metricsAddr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			m, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			failing := strings.Contains(string(m), `signet_audit_write_errors_total{reason="write"}`)
			if failing != strings.HasPrefix(tc.log, "/dev/full") {
				t.Errorf("signet_audit_write_errors_total{reason=\"write\"} present = %v", failing)
			}
			if !failing {
				cancel()
				<-done
				done <- 0
				b, _ := os.ReadFile(log)
				if tc.log == "-" {
					b = stdout.Bytes() // Execute has returned
				}
				if !strings.Contains(string(b), `"instance":"signet-test"`) || !strings.Contains(string(b), `"uid":"u1"`) {
					t.Errorf("audit log:\n%s", b)
				}
			}
		})
	}
}

package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/signet-dev/signet/internal/fixture"
)

// ceiling measures what the same load generator gets from a Go HTTPS
// server that does nothing: a separate process (this program, re-run with
// -noop-server) that reads each AdmissionReview and answers a fixed allowed
// response over the same TLS and HTTP/1.1 keep-alive. On shared cores the
// figures move with the host; measured next to signet's, the two can be
// read together.
func ceiling(dir string, workers, rate int, dur time.Duration) (sat, fixed stats, err error) {
	certPEM, keyPEM, err := fixture.ServingCert("127.0.0.1", "localhost")
	if err != nil {
		return sat, fixed, err
	}
	cert, key := filepath.Join(dir, "noop.crt"), filepath.Join(dir, "noop.key")
	if err := os.WriteFile(cert, certPEM, 0o644); err != nil {
		return sat, fixed, err
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		return sat, fixed, err
	}
	self, err := os.Executable()
	if err != nil {
		return sat, fixed, err
	}
	cmd := exec.Command(self, "-noop-server", cert+","+key)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return sat, fixed, err
	}
	if err := cmd.Start(); err != nil {
		return sat, fixed, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return sat, fixed, fmt.Errorf("do-nothing server: %w", err)
	}
	cl := newClient(strings.TrimSpace(addr), certPEM, workers*2)
	if fixed, err = fixedRate(cl, "registry.example/app:v1", rate, dur); err != nil {
		return sat, fixed, err
	}
	sat, err = saturate(cl, "registry.example/app:v1", workers, dur)
	return sat, fixed, err
}

// noopServer serves the do-nothing handler on a free loopback port with
// the certificate and key in "cert,key", prints the address and runs until
// killed.
func noopServer(pair string) error {
	certFile, keyFile, _ := strings.Cut(pair, ",")
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	answer := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"bench","allowed":true}}` + "\n")
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(io.LimitReader(r.Body, 7<<20))
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(answer)))
			_, _ = w.Write(answer)
		}),
		TLSConfig:    &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}, // HTTP/1.1, as the client speaks
	}
	fmt.Println(ln.Addr().String())
	return srv.ServeTLS(ln, "", "")
}

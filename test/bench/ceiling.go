package main

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/signet-dev/signet/internal/fixture"
)

// ceiling measures what the same load generator gets from a Go HTTPS
// server that does nothing: it reads each AdmissionReview and answers a
// fixed allowed response, over the same TLS and HTTP/1.1 keep-alive. On
// shared cores the figure moves with the host; it is measured next to
// signet's so the two can be read together.
func ceiling(workers int, dur time.Duration) (stats, error) {
	certPEM, keyPEM, err := fixture.ServingCert("127.0.0.1", "localhost")
	if err != nil {
		return stats{}, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return stats{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return stats{}, err
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
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}, // HTTP/1.1, as signet's clients here
	}
	go srv.ServeTLS(ln, "", "") //nolint:errcheck // closed below
	defer srv.Close()
	cl := newClient(ln.Addr().String(), certPEM, workers*2)
	return saturate(cl, "registry.example/app:v1", workers, dur)
}

package testutil

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// Responder is an OCSP responder (paths under /ocsp) and CRL distribution
// point (any other path) on loopback that records every request made to
// it. What it answers is set with OCSP and CRL; unset, it answers 404.
type Responder struct {
	URL      string
	srv      *httptest.Server
	requests atomic.Int64
	sent     atomic.Int64
	mu       sync.Mutex
	paths    []string
	ocsp     http.HandlerFunc
	crl      http.HandlerFunc
}

// NewResponder starts a Responder, closed when the test ends.
func NewResponder(t testing.TB) *Responder {
	r := &Responder{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		r.mu.Lock()
		r.paths = append(r.paths, req.URL.Path)
		h := r.crl
		if strings.HasPrefix(req.URL.Path, "/ocsp") {
			h = r.ocsp
		}
		r.mu.Unlock()
		if h == nil {
			http.NotFound(w, req)
			return
		}
		h(countingWriter{w, &r.sent}, req)
	}))
	r.URL = r.srv.URL
	t.Cleanup(r.srv.Close)
	return r
}

// SetOCSP and SetCRL choose the answers to OCSP and CRL requests.
func (r *Responder) SetOCSP(h http.HandlerFunc) { r.mu.Lock(); r.ocsp = h; r.mu.Unlock() }
func (r *Responder) SetCRL(h http.HandlerFunc)  { r.mu.Lock(); r.crl = h; r.mu.Unlock() }

// Requests is the number of requests received.
func (r *Responder) Requests() int64 { return r.requests.Load() }

// Sent is the number of response body bytes written.
func (r *Responder) Sent() int64 { return r.sent.Load() }

// Paths lists the paths requested, in order.
func (r *Responder) Paths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.paths...)
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// OCSPAnswer answers OCSP requests about the certificate with serial
// issued by ca with status (golang.org/x/crypto/ocsp's Good, Revoked…),
// signed by ca.
func OCSPAnswer(ca *x509.Certificate, caKey crypto.Signer, serial *big.Int, status int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		tmpl := ocsp.Response{Status: status, SerialNumber: serial, ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
		if status == ocsp.Revoked {
			tmpl.RevokedAt, tmpl.RevocationReason = time.Now().Add(-time.Hour), ocsp.KeyCompromise
		}
		b, err := ocsp.CreateResponse(ca, ca, tmpl, caKey)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/ocsp-response")
		_, _ = w.Write(b)
	}
}

// CRLAnswer serves a CRL signed by ca, listing serial when revoked.
func CRLAnswer(ca *x509.Certificate, caKey crypto.Signer, serial *big.Int, revoked bool) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(time.Hour)}
		if revoked {
			tmpl.RevokedCertificateEntries = []x509.RevocationListEntry{{SerialNumber: serial, RevocationTime: time.Now().Add(-time.Hour)}}
		}
		b, err := x509.CreateRevocationList(rand.Reader, tmpl, ca, caKey)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write(b)
	}
}

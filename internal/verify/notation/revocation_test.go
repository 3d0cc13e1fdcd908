package notation_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/notation"
)

// revocablePKI is a CA and a code-signing leaf whose certificate names
// OCSP responders and CRL distribution points.
type revocablePKI struct {
	*pki
	caKey *ecdsa.PrivateKey
}

func newRevocablePKI(t *testing.T, cn string, ocspURLs, crlURLs []string) *revocablePKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn + " CA", Organization: []string{"signet tests"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
	}
	ca := cert(t, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := cert(t, &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn, Organization: []string{"signet tests"}, Country: []string{"DE"}, Province: []string{"Bavaria"}, Locality: []string{"Munich"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		OCSPServer: ocspURLs, CRLDistributionPoints: crlURLs,
	}, ca, &leafKey.PublicKey, caKey)
	return &revocablePKI{pki: &pki{ca: ca, leaf: leaf, leafKey: leafKey}, caKey: caKey}
}

func (p *revocablePKI) ocspAnswer(status int) http.HandlerFunc {
	return testutil.OCSPAnswer(p.ca, p.caKey, p.leaf.SerialNumber, status)
}

func (p *revocablePKI) crlAnswer(revoked bool) http.HandlerFunc {
	return testutil.CRLAnswer(p.ca, p.caKey, p.leaf.SerialNumber, revoked)
}

// endless streams bytes until the client goes away.
func endless(w http.ResponseWriter, r *http.Request) {
	chunk := make([]byte, 64<<10)
	for r.Context().Err() == nil {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// stall answers nothing until the client goes away.
func stall(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

// TestRevocation signs with a certificate naming a local responder and
// checks that nothing is fetched unless the rule turns revocation checking
// on, and that what is fetched then is bounded and decides.
func TestRevocation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     notation.Options
		many     int  // OCSP URLs in the leaf beyond the first
		attacker bool // signed by a CA the trust root does not hold
		ocsp     func(p *revocablePKI) http.HandlerFunc
		crl      func(p *revocablePKI) http.HandlerFunc
		want     verify.Outcome
		anyOK    bool // the outcome is not the point
		has      string
		requests func(n int64) bool
	}{
		{name: "off, strict", want: verify.Verified, ocsp: revokedOCSP, requests: none},
		{name: "off, permissive", opts: notation.Options{Level: notation.LevelPermissive}, want: verify.Verified, ocsp: revokedOCSP, requests: none},
		{name: "off, audit", opts: notation.Options{Level: notation.LevelAudit}, anyOK: true, ocsp: revokedOCSP, requests: none},
		{name: "off, strict, untrusted signer", attacker: true, want: verify.Failed, ocsp: revokedOCSP, requests: none},
		{name: "off, permissive, untrusted signer", attacker: true, opts: notation.Options{Level: notation.LevelPermissive}, want: verify.Failed, ocsp: revokedOCSP, requests: none},
		{name: "off, audit, untrusted signer", attacker: true, opts: notation.Options{Level: notation.LevelAudit}, anyOK: true, ocsp: revokedOCSP, requests: none},
		{name: "on, untrusted signer: nothing fetched", attacker: true, opts: notation.Options{Revocation: notation.RevocationEnforce}, want: verify.Failed, ocsp: revokedOCSP, requests: none},
		{name: "on, permissive, untrusted signer: nothing fetched", attacker: true, opts: notation.Options{Level: notation.LevelPermissive, Revocation: notation.RevocationEnforce}, want: verify.Failed, ocsp: revokedOCSP, requests: none},
		{name: "on, OCSP good", opts: notation.Options{Revocation: notation.RevocationEnforce}, want: verify.Verified, ocsp: goodOCSP, requests: exactly(1)},
		{name: "on, OCSP revoked", opts: notation.Options{Revocation: notation.RevocationEnforce}, want: verify.Failed, has: "revoked", ocsp: revokedOCSP, requests: exactly(1)},
		{name: "on, permissive, OCSP revoked", opts: notation.Options{Level: notation.LevelPermissive, Revocation: notation.RevocationEnforce}, want: verify.Failed, has: "revoked", ocsp: revokedOCSP, requests: exactly(1)},
		{name: "log, OCSP revoked: counted, logged", opts: notation.Options{Revocation: notation.RevocationLog}, want: verify.Verified, has: "logged, not enforced", ocsp: revokedOCSP, requests: exactly(1)},
		{name: "log, no OCSP answer, CRL revoked: counted, logged", opts: notation.Options{Revocation: notation.RevocationLog}, want: verify.Verified, has: "is revoked", crl: revokedCRL, requests: exactly(2)},
		{name: "log, untrusted signer: nothing fetched", attacker: true, opts: notation.Options{Revocation: notation.RevocationLog}, want: verify.Failed, ocsp: revokedOCSP, requests: none},
		{name: "skip: nothing fetched", opts: notation.Options{Revocation: notation.RevocationSkip}, want: verify.Verified, ocsp: revokedOCSP, requests: none},
		{name: "on, no OCSP answer, CRL good", opts: notation.Options{Revocation: notation.RevocationEnforce}, want: verify.Verified, crl: goodCRL, requests: exactly(2)},
		{name: "on, no OCSP answer, CRL revoked", opts: notation.Options{Revocation: notation.RevocationEnforce}, want: verify.Failed, has: "revoked", crl: revokedCRL, requests: exactly(2)},
		{name: "on, responder stalls: inconclusive", opts: notation.Options{Revocation: notation.RevocationEnforce}, want: verify.Inconclusive, ocsp: always(stall), crl: always(stall), requests: atMost(2)},
		{name: "on, responder fails: inconclusive", opts: notation.Options{Revocation: notation.RevocationEnforce}, want: verify.Inconclusive,
			ocsp: always(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }),
			crl:  always(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }), requests: atMost(2)},
		{name: "on, endless CRL", opts: notation.Options{Revocation: notation.RevocationEnforce}, want: verify.Failed, has: "revocation status is unknown", crl: always(endless), requests: exactly(2)},
		{name: "on, responder redirects: not followed", opts: notation.Options{Revocation: notation.RevocationEnforce}, want: verify.Failed,
			ocsp: always(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/redirected", http.StatusFound) }),
			crl:  always(func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/redirected", http.StatusFound) }), requests: exactly(2)},
		{name: "on, 50 OCSP URLs: requests bounded", opts: notation.Options{Revocation: notation.RevocationEnforce}, many: 49, want: verify.Inconclusive,
			ocsp: always(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) }), requests: atMost(notation.MaxRevocationRequests)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := testutil.NewResponder(t)
			ocspURLs := []string{r.URL + "/ocsp"}
			for i := range tc.many {
				ocspURLs = append(ocspURLs, fmt.Sprintf("%s/ocsp%d", r.URL, i))
			}
			signer := newRevocablePKI(t, "signer", ocspURLs, []string{r.URL + "/crl"})
			trusted := signer
			if tc.attacker {
				trusted = newRevocablePKI(t, "trusted", nil, nil)
			}
			if tc.ocsp != nil {
				r.SetOCSP(tc.ocsp(signer))
			}
			if tc.crl != nil {
				r.SetCRL(tc.crl(signer))
			}
			reg := testutil.NewRegistry(t, true)
			img := reg.PushImage(t, "demo/app:v1")
			signer.sign(t, img, img, notation.MediaTypeJWS)
			v, err := notation.New(registry.MustNew(registry.WithInsecureRegistries(reg.Host)), []notation.TrustRoot{{Name: "ca", CAs: []*x509.Certificate{trusted.ca}}},
				verify.Quorum{Roots: []string{"ca"}, Threshold: 1}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			start := time.Now()
			res, err := v.Verify(ctx, verify.Image{Ref: img})
			took := time.Since(start)
			if got := verify.Classify(err); !tc.anyOK && got != tc.want {
				t.Fatalf("outcome %s, want %s: %v; checks %+v", got, tc.want, err, res.Checks)
			}
			if tc.has != "" {
				all := fmt.Sprint(err)
				for _, c := range res.Checks {
					all += " " + c.Reason
				}
				if !strings.Contains(all, tc.has) {
					t.Errorf("%q not in %q", tc.has, all)
				}
			}
			paths := r.Paths()
			if n := r.Requests(); !tc.requests(n) {
				t.Errorf("%d requests to the responder (%v)", n, paths)
			}
			for _, p := range paths {
				if p == "/redirected" {
					t.Errorf("a redirect was followed")
				}
			}
			if took > 3*time.Second+time.Second {
				t.Errorf("verification took %s, beyond its 3 s deadline", took)
			}
		})
	}
}

func none(n int64) bool { return n == 0 }

func exactly(k int64) func(int64) bool { return func(n int64) bool { return n == k } }

func atMost(k int64) func(int64) bool { return func(n int64) bool { return n <= k } }

func always(h http.HandlerFunc) func(*revocablePKI) http.HandlerFunc {
	return func(*revocablePKI) http.HandlerFunc { return h }
}

func goodOCSP(p *revocablePKI) http.HandlerFunc    { return p.ocspAnswer(ocsp.Good) }
func revokedOCSP(p *revocablePKI) http.HandlerFunc { return p.ocspAnswer(ocsp.Revoked) }
func goodCRL(p *revocablePKI) http.HandlerFunc     { return p.crlAnswer(false) }
func revokedCRL(p *revocablePKI) http.HandlerFunc  { return p.crlAnswer(true) }

// TestRevocationAuditRejected: at the audit level, certificates are not
// authenticated before their revocation URLs would be fetched.
func TestRevocationAuditRejected(t *testing.T) {
	t.Parallel()
	p := newRevocablePKI(t, "ca", nil, nil)
	_, err := notation.New(registry.MustNew(), []notation.TrustRoot{{Name: "ca", CAs: []*x509.Certificate{p.ca}}},
		verify.Quorum{Roots: []string{"ca"}, Threshold: 1}, notation.Options{Level: notation.LevelAudit, Revocation: notation.RevocationEnforce})
	if err == nil || !strings.Contains(err.Error(), "audit") {
		t.Fatalf("New = %v, want an error about the audit level", err)
	}
}

// TestRevocationMemory serves an endless CRL and measures what one
// verification allocates: bounded by MaxRevocationBytes, not by what the
// responder sends. Not parallel: it reads the process's allocation
// counter.
func TestRevocationMemory(t *testing.T) {
	r := testutil.NewResponder(t)
	p := newRevocablePKI(t, "signer", nil, []string{r.URL + "/crl"})
	r.SetCRL(endless)
	reg := testutil.NewRegistry(t, true)
	img := reg.PushImage(t, "demo/app:v1")
	p.sign(t, img, img, notation.MediaTypeJWS)
	v, err := notation.New(registry.MustNew(registry.WithInsecureRegistries(reg.Host)), []notation.TrustRoot{{Name: "ca", CAs: []*x509.Certificate{p.ca}}},
		verify.Quorum{Roots: []string{"ca"}, Threshold: 1}, notation.Options{Revocation: notation.RevocationEnforce})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err = v.Verify(ctx, verify.Image{Ref: img})
	runtime.ReadMemStats(&after)
	if verify.Classify(err) != verify.Failed {
		t.Fatalf("outcome %s: %v", verify.Classify(err), err)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("responder sent %d MiB, verification allocated %d MiB (limit per response %d MiB)", r.Sent()>>20, alloc>>20, notation.MaxRevocationBytes>>20)
	if limit := uint64(4 * notation.MaxRevocationBytes); alloc > limit {
		t.Errorf("verification allocated %d bytes, more than %d", alloc, limit)
	}
}

package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

// signingKey is a CA and a code-signing leaf installed as notation's
// default signing key.
type signingKey struct {
	caPEM string
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	leaf  *x509.Certificate
}

// installKey installs a signing key whose leaf certificate is leaf (its
// subject, validity and extensions; key and issuer are filled in), issued
// by a new CA, as notation's default signing key.
func (n *notationEnv) installKey(t *testing.T, leaf *x509.Certificate) signingKey {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA", Organization: []string{"signet"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	return n.installLeaf(t, ca, caKey, leaf, 2)
}

// installLeaf installs a signing key whose leaf certificate is leaf, with
// the given serial number, issued by ca, as notation's default signing key.
func (n *notationEnv) installLeaf(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, leaf *x509.Certificate, serial int64) signingKey {
	t.Helper()
	caDER := ca.Raw
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf.SerialNumber = big.NewInt(serial)
	leaf.KeyUsage, leaf.ExtKeyUsage = x509.KeyUsageDigitalSignature, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := x509.ParseCertificate(leafDER)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := filepath.Join(n.dir, "signing")
	os.MkdirAll(dir, 0o700)
	keyPath, certPath := filepath.Join(dir, "signing.key"), filepath.Join(dir, "signing.crt")
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	chain := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...)
	os.WriteFile(certPath, chain, 0o600)
	keys, _ := json.Marshal(map[string]any{"default": "signing", "keys": []any{map[string]string{"name": "signing", "keyPath": keyPath, "certPath": certPath}}})
	os.MkdirAll(filepath.Join(n.dir, "notation"), 0o700)
	if err := os.WriteFile(filepath.Join(n.dir, "notation", "signingkeys.json"), keys, 0o600); err != nil {
		t.Fatal(err)
	}
	return signingKey{caPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})), ca: ca, caKey: caKey, leaf: parsed}
}

// TestNotationRevocation signs with the real notation CLI and a
// certificate naming a local OCSP responder and CRL distribution point
// that record every request: without with.verifyRevocation nothing is
// fetched at any level, for a trusted or an untrusted signer; with it, the
// responder decides.
func TestNotationRevocation(t *testing.T) {
	t.Parallel()
	reg := harness.StartReferrersRegistry(t)
	r := testutil.NewResponder(t)
	n := &notationEnv{dir: t.TempDir()}
	k := n.installKey(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "revocable", Organization: []string{"signet"}, Country: []string{"DE"}, Province: []string{"BY"}, Locality: []string{"Munich"}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		OCSPServer: []string{r.URL + "/ocsp"}, CRLDistributionPoints: []string{r.URL + "/crl"},
	})
	img := harness.Push(t, reg.Host, "demo/app:v1")
	n.run(t, "sign", "--insecure-registry", "--force-referrers-tag=false", img.String())
	other := (&notationEnv{dir: t.TempDir()}).testCert(t, "other.example")
	if got := r.Requests(); got != 0 {
		t.Fatalf("signing made %d requests to the responder", got)
	}

	// Off: a revoked certificate is not even looked up, at every level,
	// whoever the trust root is.
	r.SetOCSP(testutil.OCSPAnswer(k.ca, k.caKey, k.leaf.SerialNumber, ocsp.Revoked))
	for _, level := range []string{"strict", "permissive", "audit"} {
		for name, ca := range map[string]string{"trusted": k.caPEM, "untrusted": other} {
			code, ds, se := signet(t, notationPolicy(reg.Host+"/**", map[string]string{"ca": ca}, "{verificationLevel: "+level+"}"), img.String())
			d := one(t, ds)
			if got := r.Requests(); got != 0 {
				t.Fatalf("level %s, %s signer: %d requests to the responder (%v); exit %d, %s\n%s", level, name, got, r.Paths(), code, d.Reason, se)
			}
		}
	}
	// Skipped explicitly: not fetched either.
	code, ds, se := signet(t, notationPolicy(reg.Host+"/**", map[string]string{"ca": k.caPEM}, "{revocationValidations: skip}"), img.String())
	expect(t, code, one(t, ds), se, 0, verify.Verified, img.DigestStr())
	if got := r.Requests(); got != 0 {
		t.Fatalf("revocationValidations: skip: %d requests to the responder", got)
	}
	// On, but the signer is not trusted: its URLs are never fetched.
	code, ds, se = signet(t, notationPolicy(reg.Host+"/**", map[string]string{"ca": other}, "{verifyRevocation: true}"), img.String())
	expect(t, code, one(t, ds), se, 1, verify.Failed, img.DigestStr())
	if got := r.Requests(); got != 0 {
		t.Fatalf("untrusted signer: %d requests to the responder", got)
	}

	for _, tc := range []struct {
		name    string
		with    string
		ocsp    int // -1: no OCSP answer (404), then the CRL decides
		crl     bool
		code    int
		outcome verify.Outcome
	}{
		{"OCSP revoked, strict", "{verifyRevocation: true}", ocsp.Revoked, false, 1, verify.Failed},
		{"OCSP revoked, permissive", "{verifyRevocation: true, verificationLevel: permissive}", ocsp.Revoked, false, 1, verify.Failed},
		{"OCSP good", "{verifyRevocation: true}", ocsp.Good, false, 0, verify.Verified},
		{"OCSP revoked, revocationValidations: enforce", "{revocationValidations: enforce}", ocsp.Revoked, false, 1, verify.Failed},
		{"OCSP revoked, revocationValidations: log", "{revocationValidations: log}", ocsp.Revoked, false, 0, verify.Verified},
		{"CRL revoked, revocationValidations: log", "{revocationValidations: log}", -1, true, 0, verify.Verified},
		{"CRL revoked", "{verifyRevocation: true}", -1, true, 1, verify.Failed},
		{"CRL good", "{verifyRevocation: true}", -1, false, 0, verify.Verified},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.SetOCSP(nil)
			if tc.ocsp >= 0 {
				r.SetOCSP(testutil.OCSPAnswer(k.ca, k.caKey, k.leaf.SerialNumber, tc.ocsp))
			}
			r.SetCRL(testutil.CRLAnswer(k.ca, k.caKey, k.leaf.SerialNumber, tc.crl))
			before := r.Requests()
			code, ds, se := signet(t, notationPolicy(reg.Host+"/**", map[string]string{"ca": k.caPEM}, tc.with), img.String())
			d := one(t, ds)
			expect(t, code, d, se, tc.code, tc.outcome, img.DigestStr())
			if got := r.Requests() - before; got < 1 || got > 2 {
				t.Errorf("%d requests to the responder, want 1 (OCSP) or 2 (OCSP, then the CRL)", got)
			}
			if (tc.code == 1 || strings.Contains(tc.with, "log")) && !strings.Contains(fmt.Sprint(d.Checks), "revoked") {
				t.Errorf("checks do not say revoked: %+v", d.Checks)
			}
		})
	}
}

package notation_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/signer"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/notation"
)

// pki is a CA and a code-signing leaf it issued.
type pki struct {
	ca      *x509.Certificate
	caKey   *ecdsa.PrivateKey
	leaf    *x509.Certificate
	leafKey *ecdsa.PrivateKey
}

func cert(t *testing.T, tmpl, parent *x509.Certificate, pub, signer any) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newPKI makes a CA and a leaf valid from notBefore to notAfter.
func newPKI(t *testing.T, cn string, notBefore, notAfter time.Time) *pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn + " CA", Organization: []string{"signet tests"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	ca := cert(t, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	return (&pki{ca: ca, caKey: caKey}).issue(t, cn, notBefore, notAfter)
}

// issue returns the CA of p with a new code-signing leaf.
func (p *pki) issue(t *testing.T, cn string, notBefore, notAfter time.Time) *pki {
	t.Helper()
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	leaf := cert(t, &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, Organization: []string{"signet tests"}, Country: []string{"DE"}, Province: []string{"Bavaria"}, Locality: []string{"Munich"}},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
	}, p.ca, &leafKey.PublicKey, p.caKey)
	return &pki{ca: p.ca, caKey: p.caKey, leaf: leaf, leafKey: leafKey}
}

// sign makes a Notation signature of the manifest subject names, and
// attaches it to img.
func (p *pki) sign(t *testing.T, img, subject name.Digest, mediaType string) {
	t.Helper()
	d, err := remote.Head(subject)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.New(p.leafKey, []*x509.Certificate{p.leaf, p.ca})
	if err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{MediaType: string(d.MediaType), Digest: digest.Digest(d.Digest.String()), Size: d.Size}
	env, _, err := s.Sign(context.Background(), desc, notationgo.SignerSignOptions{SignatureMediaType: mediaType})
	if err != nil {
		t.Fatal(err)
	}
	// As the notation CLI writes it: the type in the config, no artifactType.
	testutil.AttachArtifact(t, img, "", notation.ArtifactType, mediaType, env)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	now := time.Now()
	good := newPKI(t, "good", now.Add(-time.Hour), now.Add(time.Hour))
	other := newPKI(t, "other", now.Add(-time.Hour), now.Add(time.Hour))
	// Valid long enough to sign with, expired by the time it is verified:
	// each expired case makes its own, just before signing, so a slow
	// machine cannot let it expire before it signs.
	var expired *pki
	tests := []struct {
		name      string
		referrers bool
		roots     []*pki
		threshold int
		opts      notation.Options
		sign      func(t *testing.T, reg *testutil.Registry, img name.Digest)
		want      verify.Outcome
		has       string
	}{
		{name: "JWS via referrers API", referrers: true, roots: []*pki{good}, want: verify.Verified,
			sign: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				good.sign(t, img, img, notation.MediaTypeJWS)
			}},
		{name: "COSE via referrers tag schema", roots: []*pki{good}, want: verify.Verified,
			sign: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				good.sign(t, img, img, notation.MediaTypeCOSE)
			}},
		{name: "unsigned", roots: []*pki{good}, want: verify.Failed, has: "no Notation signatures found",
			sign: func(*testing.T, *testutil.Registry, name.Digest) {}},
		{name: "signed by another CA", referrers: true, roots: []*pki{good}, want: verify.Failed, has: "0 of 1",
			sign: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				other.sign(t, img, img, notation.MediaTypeJWS)
			}},
		{name: "signature of another image", referrers: true, roots: []*pki{good}, want: verify.Failed,
			sign: func(t *testing.T, reg *testutil.Registry, img name.Digest) {
				good.sign(t, img, reg.PushImage(t, "demo/other:v1"), notation.MediaTypeJWS)
			}},
		{name: "expired certificate, strict", referrers: true, roots: []*pki{expired}, want: verify.Failed, has: "expired", sign: signExpiring},
		{name: "expired certificate, permissive", referrers: true, roots: []*pki{expired}, opts: notation.Options{Level: notation.LevelPermissive}, want: verify.Verified, sign: signExpiring},
		{name: "expired certificate, audit", referrers: true, roots: []*pki{expired}, opts: notation.Options{Level: notation.LevelAudit}, want: verify.Verified, has: "logged, not enforced at verification level audit", sign: signExpiring},
		// notation-go only logs an untrusted CA at the audit level: such a
		// signature is never a signer.
		{name: "signed by another CA, audit", referrers: true, roots: []*pki{good}, opts: notation.Options{Level: notation.LevelAudit}, want: verify.Failed, has: "authenticity check failed",
			sign: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				other.sign(t, img, img, notation.MediaTypeJWS)
			}},
		{name: "signed by another CA, permissive", referrers: true, roots: []*pki{good}, opts: notation.Options{Level: notation.LevelPermissive}, want: verify.Failed, has: "0 of 1",
			sign: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				other.sign(t, img, img, notation.MediaTypeJWS)
			}},
		{name: "signed by the trusted CA, audit", referrers: true, roots: []*pki{good}, opts: notation.Options{Level: notation.LevelAudit}, want: verify.Verified,
			sign: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				good.sign(t, img, img, notation.MediaTypeCOSE)
			}},
		{name: "2 of 2 roots sharing a CA, audit, one trusted and one untrusted signature", referrers: true, roots: []*pki{good, good}, threshold: 2, opts: notation.Options{Level: notation.LevelAudit}, want: verify.Failed, has: "1 of 2",
			sign: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				good.sign(t, img, img, notation.MediaTypeJWS)
				other.sign(t, img, img, notation.MediaTypeJWS)
			}},
		{name: "2 of 2 CAs", referrers: true, roots: []*pki{good, other}, threshold: 2, want: verify.Verified,
			sign: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				good.sign(t, img, img, notation.MediaTypeJWS)
				other.sign(t, img, img, notation.MediaTypeCOSE)
			}},
		{name: "2 of 2 CAs, one signer", referrers: true, roots: []*pki{good, other}, threshold: 2, want: verify.Failed, has: "1 of 2",
			sign: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				good.sign(t, img, img, notation.MediaTypeJWS)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := testutil.NewRegistry(t, tc.referrers)
			img := reg.PushImage(t, "demo/app:v1")
			tc.sign(t, reg, img)
			pkis := tc.roots
			if len(pkis) == 1 && pkis[0] == nil { // an expiring PKI made by signExpiring
				expiringMu.Lock()
				p := expiring[img.String()]
				expiringMu.Unlock()
				time.Sleep(time.Until(p.leaf.NotAfter.Add(time.Second)))
				pkis = []*pki{p}
			}
			var roots []notation.TrustRoot
			q := verify.Quorum{Threshold: max(1, tc.threshold)}
			for i, p := range pkis {
				n := string(rune('a' + i))
				roots = append(roots, notation.TrustRoot{Name: n, CAs: []*x509.Certificate{p.ca}})
				q.Roots = append(q.Roots, n)
			}
			v, err := notation.New(registry.MustNew(registry.WithInsecureRegistries(reg.Host)), roots, q, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(context.Background(), verify.Image{Ref: img})
			if got := verify.Classify(err); got != tc.want {
				t.Fatalf("outcome %s, want %s: %v; checks %+v", got, tc.want, err, res.Checks)
			}
			for _, c := range res.Checks {
				// A passing check says what notation-go read of the
				// signature: where, and the certificate's subject and issuer.
				if c.Passed && (c.Kind != verify.KindSignature || c.Source != verify.SourceNotation || c.Evidence == nil ||
					!strings.Contains(c.Subject, "CN=") || !strings.Contains(c.CertificateIssuer, "CN=")) {
					t.Errorf("passing check without its evidence: %+v %+v", c, c.Evidence)
				}
			}
			if tc.has != "" {
				all := ""
				if err != nil {
					all = err.Error()
				}
				for _, c := range res.Checks {
					all += " " + c.Reason
				}
				if !strings.Contains(all, tc.has) {
					t.Errorf("%q not in %q", tc.has, all)
				}
			}
		})
	}
}

var (
	expiringMu sync.Mutex
	expiring   = map[string]*pki{}
)

// signExpiring signs img with a new certificate valid for two more seconds,
// remembered in expiring under the image.
func signExpiring(t *testing.T, _ *testutil.Registry, img name.Digest) {
	p := newPKI(t, "expiring", time.Now().Add(-time.Hour), time.Now().Add(2*time.Second))
	p.sign(t, img, img, notation.MediaTypeJWS)
	expiringMu.Lock()
	expiring[img.String()] = p
	expiringMu.Unlock()
}

func TestParseCertificates(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "not pem", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n"} {
		if _, err := notation.ParseCertificates([]byte(bad)); err == nil {
			t.Errorf("ParseCertificates(%q) succeeded", bad)
		}
	}
}

// TestSharedCA: two trust roots that trust the same CA do not turn one
// signature, or one signing key signing twice, into two signers; two
// signing keys the CA certified do.
func TestSharedCA(t *testing.T) {
	t.Parallel()
	now := time.Now()
	shared := newPKI(t, "alice", now.Add(-time.Hour), now.Add(time.Hour))
	bob := shared.issue(t, "bob", now.Add(-time.Hour), now.Add(time.Hour))
	other := newPKI(t, "other", now.Add(-time.Hour), now.Add(time.Hour))
	roots := []notation.TrustRoot{
		{Name: "a", CAs: []*x509.Certificate{shared.ca}},
		{Name: "b", CAs: []*x509.Certificate{other.ca, shared.ca}},
	}
	tests := []struct {
		name  string
		level string
		sign  []*pki
		want  verify.Outcome
	}{
		{"one signature", "", []*pki{shared}, verify.Failed},
		{"one key, two signatures", "", []*pki{shared, shared}, verify.Failed},
		{"one key, two signatures, permissive", notation.LevelPermissive, []*pki{shared, shared}, verify.Failed},
		{"two keys", "", []*pki{shared, bob}, verify.Verified},
		{"two keys of two CAs", "", []*pki{shared, other}, verify.Verified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := testutil.NewRegistry(t, true)
			img := reg.PushImage(t, "demo/app:v1")
			for i, p := range tc.sign {
				p.sign(t, img, img, []string{notation.MediaTypeJWS, notation.MediaTypeCOSE}[i%2])
			}
			v, err := notation.New(registry.MustNew(registry.WithInsecureRegistries(reg.Host)), roots, verify.Quorum{Roots: []string{"a", "b"}, Threshold: 2}, notation.Options{Level: tc.level})
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(context.Background(), verify.Image{Ref: img})
			if got := verify.Classify(err); got != tc.want {
				t.Fatalf("outcome %s, want %s: %v; checks %+v", got, tc.want, err, res.Checks)
			}
			if tc.want == verify.Failed && !strings.Contains(err.Error(), "1 of 2") {
				t.Errorf("error %q, want 1 of 2", err)
			}
		})
	}
}

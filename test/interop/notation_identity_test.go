package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

// testCA is a CA for installLeaf.
func testCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Acme CA", Organization: []string{"Acme"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return ca, key
}

func acmeLeaf(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:   pkix.Name{CommonName: cn, Organization: []string{"Acme"}, Country: []string{"US"}, Province: []string{"WA"}, Locality: []string{"Seattle"}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
	}
}

// TestNotationTrustedIdentities: one CA issued two leaf certificates,
// CN=release and CN=dev, and the real notation CLI signed one image with
// each; a trust root pinning the release subject admits only the
// release-signed image, and the dev one's denial names both identities.
func TestNotationTrustedIdentities(t *testing.T) {
	t.Parallel()
	reg := harness.StartReferrersRegistry(t)
	ca, caKey := testCA(t)
	rel, dev := &notationEnv{dir: t.TempDir()}, &notationEnv{dir: t.TempDir()}
	k := rel.installLeaf(t, ca, caKey, acmeLeaf("release"), 2)
	dev.installLeaf(t, ca, caKey, acmeLeaf("dev"), 3)
	relImg := harness.Push(t, reg.Host, "demo/app:release")
	devImg := harness.Push(t, reg.Host, "demo/app:dev")
	rel.run(t, "sign", "--insecure-registry", "--force-referrers-tag=false", relImg.String())
	dev.run(t, "sign", "--insecure-registry", "--force-referrers-tag=false", devImg.String())

	policy := func(ids string) string {
		return "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators:\n- name: notary\n  type: notation\n  trustRoots:\n  - name: acme\n" +
			ids + "    cert: |\n      " + strings.ReplaceAll(strings.TrimSpace(k.caPEM), "\n", "\n      ") + "\n" +
			"rules:\n- {pattern: \"" + reg.Host + "/**\", validator: notary}\n"
	}
	pinned := policy("    trustedIdentities: [\"x509.subject: C=US, ST=WA, O=Acme, CN=release\"]\n")
	for _, tc := range []struct {
		name, policy string
		img          name.Digest
		code         int
		want         verify.Outcome
		has          []string
	}{
		{"default *: release", policy(""), relImg, 0, verify.Verified, nil},
		{"default *: dev", policy(""), devImg, 0, verify.Verified, nil},
		{"pinned release: release", pinned, relImg, 0, verify.Verified, nil},
		{"pinned release: dev", pinned, devImg, 1, verify.Failed, []string{`"CN":"release"`, "signing certificate CN=dev,"}},
		{"pinned release, signingAuthority store: release", policy("    trustedIdentities: [\"x509.subject: C=US, ST=WA, O=Acme, CN=release\"]\n    trustStore: signingAuthority\n"), relImg, 1, verify.Failed, []string{"no trusted certificates"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, ds, se := signet(t, tc.policy, tc.img.String())
			d := one(t, ds)
			expect(t, code, d, se, tc.code, tc.want, tc.img.DigestStr())
			all := d.Reason
			for _, c := range d.Checks {
				all += " " + c.Reason
			}
			for _, h := range tc.has {
				if !strings.Contains(all, h) {
					t.Errorf("%q not in %s", h, all)
				}
			}
		})
	}
}

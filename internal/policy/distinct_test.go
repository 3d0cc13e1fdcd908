package policy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
)

// TestDistinctTrustRoots: a policy that gives one signer two trust-root
// names within a validator is rejected when it loads, with the field path
// of the second: the same public key however it is written (PKIX or
// PKCS#1, a Notary root certificate or its public key), the same key
// reference, the same keyless identity, the same CA certificates in any
// order. Roots that merely overlap (a regex and an exact subject, CA sets
// sharing one CA) load; the quorum counts their signers once.
func TestDistinctTrustRoots(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkix1, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	rsaPKIX := pemOf("PUBLIC KEY", pkix1)
	rsaPKCS1 := pemOf("RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey))
	k1, k2 := testutil.NewKey(t).PEM, testutil.NewKey(t).PEM
	ca1, ca2 := selfSignedCA(t, "one"), selfSignedCA(t, "two")
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecPKIX, _ := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	rootCert := certOf(t, "docker.io/acme/app", ecKey, false)

	roots := func(typ string, extra string, rs ...string) string {
		return `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators:
- name: v
  type: ` + typ + `
` + extra + `  trustRoots:
` + strings.Join(rs, "") + `rules: [{pattern: "**", validator: v, with: {trustRoot: "*"}}]
`
	}
	key := func(name, pem string) string {
		return "  - name: " + name + "\n    key: |\n" + indentBlock(pem, 8)
	}
	cert := func(name string, pems ...string) string {
		return "  - name: " + name + "\n    cert: |\n" + indentBlock(strings.Join(pems, ""), 8)
	}
	line := func(s string) string { return "  - " + s + "\n" }
	notary := "  host: https://notary.example\n"
	tests := []struct {
		name string
		yaml string
		err  string // "" loads
	}{
		{"cosign: same key twice", roots("cosign", "", key("a", k1), key("b", k1)), `validators[0].trustRoots[1].key: the same public key as validators[0].trustRoots[0]`},
		{"cosign: same RSA key as PKIX and PKCS#1", roots("cosign", "", key("a", rsaPKIX), key("b", rsaPKCS1)), `validators[0].trustRoots[1].key: the same public key`},
		{"cosign: third root repeats the first", roots("cosign", "", key("a", k1), key("b", k2), key("c", k1)), `validators[0].trustRoots[2].key: the same public key as validators[0].trustRoots[0]`},
		{"cosign: distinct keys", roots("cosign", "", key("a", k1), key("b", k2)), ""},
		{"cosign: same key reference", roots("cosign", "", line(`{name: a, key: "k8s://signet/cosign"}`), line(`{name: b, key: "k8s://signet/cosign"}`)), `validators[0].trustRoots[1].key: the same key reference`},
		{"cosign: same keyless identity", roots("cosign", "  tuf: {}\n", line(`{name: a, keyless: {issuer: "https://i", subject: "alice@example"}}`), line(`{name: b, keyless: {issuer: "https://i", subject: "alice@example"}}`)), `validators[0].trustRoots[1].keyless: the same keyless identity`},
		{"cosign: overlapping keyless identities", roots("cosign", "  tuf: {}\n", line(`{name: a, keyless: {issuer: "https://i", subject: "alice@example"}}`), line(`{name: b, keyless: {issuer: "https://i", subjectRegex: "@example$"}}`)), ""},
		{"notation: same CA", roots("notation", "", cert("a", ca1), cert("b", ca1)), `validators[0].trustRoots[1].cert: the same CA certificates`},
		{"notation: same CAs in another order", roots("notation", "", cert("a", ca1, ca2), cert("b", ca2, ca1, ca2)), `validators[0].trustRoots[1].cert: the same CA certificates`},
		{"notation: sharing one CA", roots("notation", "", cert("a", ca1), cert("b", ca1, ca2)), ""},
		{"notaryv1: same key as certificate and public key", roots("notaryv1", notary, key("a", rootCert), key("b", pemOf("PUBLIC KEY", ecPKIX))), `validators[0].trustRoots[1].key: the same public key`},
		{"notaryv1: distinct keys", roots("notaryv1", notary, key("a", rootCert), key("b", k1)), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := policy.Parse([]byte(tc.yaml))
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, tc.yaml)
			}
			_, err = policy.Compile(doc, registry.MustNew(), policy.WithKeySecrets(secretMap{}))
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("policy rejected: %v\n%s", err, tc.yaml)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func indentBlock(s string, n int) string {
	pad := strings.Repeat(" ", n)
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(pad + l + "\n")
	}
	return b.String()
}

func certOf(t *testing.T, cn string, k *ecdsa.PrivateKey, isCA bool) string {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: isCA, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("CERTIFICATE", der)
}

func selfSignedCA(t *testing.T, cn string) string {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return certOf(t, cn, k, true)
}

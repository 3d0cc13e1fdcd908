package keyless

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
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

// testTSA covers keyless signatures whose signing time an RFC 3161
// timestamp authority vouches for, instead of (or as well as) Rekor.
func testTSA(t *testing.T, s *harness.Sigstore) {
	reg := harness.StartReferrersRegistry(t)
	h := reg.Host

	for _, tc := range []struct {
		name string
		sign func(*testing.T, *harness.Cosign, name.Digest, bool)
		// verify is cosign's own check of the fixture.
		verify func(*testing.T, *harness.Cosign, name.Digest, bool) error
	}{
		{"cosign v2 legacy with --timestamp-server-url", func(t *testing.T, c *harness.Cosign, img name.Digest, tlog bool) {
			args := []string{"sign", "--yes", "--fulcio-url", s.FulcioURL, "--rekor-url", s.RekorURL,
				"--oidc-issuer", s.Issuer(), "--identity-token", s.Token(t, alice),
				"--timestamp-server-url", s.TSAURL, fmt.Sprintf("--tlog-upload=%t", tlog),
				"--allow-insecure-registry", "--allow-http-registry", img.String()}
			c.Run(t, harness.Tool(t, "cosign2"), args...)
		}, func(t *testing.T, c *harness.Cosign, img name.Digest, tlog bool) error {
			args := []string{"verify", "--rekor-url", s.RekorURL,
				"--timestamp-certificate-chain", s.TSACertChainFile(), "--use-signed-timestamps",
				"--certificate-identity", alice, "--certificate-oidc-issuer", s.Issuer(),
				"--allow-insecure-registry", "--allow-http-registry"}
			if !tlog {
				args = append(args, "--insecure-ignore-tlog")
			}
			_, err := c.Try(harness.Tool(t, "cosign2"), append(args, img.String())...)
			return err
		}},
		{"cosign v3 bundle with a TSA in the signing config", func(t *testing.T, c *harness.Cosign, img name.Digest, tlog bool) {
			c.Run(t, harness.Tool(t, "cosign3"), "sign", "--yes", "--signing-config", s.SigningConfig(t, tlog, true),
				"--trusted-root", s.TrustedRootFile, "--identity-token", s.Token(t, alice),
				"--allow-insecure-registry", "--allow-http-registry", img.String())
		}, func(t *testing.T, c *harness.Cosign, img name.Digest, tlog bool) error {
			args := []string{"verify", "--trusted-root", s.TrustedRootFile, "--use-signed-timestamps",
				"--certificate-identity", alice, "--certificate-oidc-issuer", s.Issuer(),
				"--allow-insecure-registry", "--allow-http-registry"}
			if !tlog {
				args = append(args, "--insecure-ignore-tlog")
			}
			_, err := c.Try(harness.Tool(t, "cosign3"), append(args, img.String())...)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCosign(t, s)
			imgs := map[bool]name.Digest{}
			for _, tlog := range []bool{false, true} {
				img := harness.Push(t, h, fmt.Sprintf("demo/tsa:tlog-%t", tlog))
				tc.sign(t, c, img, tlog)
				if err := tc.verify(t, c, img, tlog); err != nil {
					t.Fatalf("cosign rejects the fixture: %v", err)
				}
				imgs[tlog] = img
			}
			// Logged and timestamped: the default policy holds.
			img := imgs[true]
			expect(t, keylessPolicy(s, exact(s, alice), ""), img.String(), img.DigestStr(), 0, verify.Verified)
			// Only the TSA's timestamp: allowed once the rule stops
			// requiring a transparency log, denied while it does.
			img = imgs[false]
			expect(t, keylessPolicy(s, exact(s, alice), ", verifyInTransparencyLog: false"), img.String(), img.DigestStr(), 0, verify.Verified)
			expect(t, keylessPolicy(s, exact(s, alice), ""), img.String(), img.DigestStr(), 1, verify.Failed)
		})
	}
}

// testNotationTSA signs with `notation sign --timestamp-url` against the
// stack's TSA and checks a notation validator whose trust root names the
// TSA's root as tsCert.
func testNotationTSA(t *testing.T, s *harness.Sigstore) {
	reg := harness.StartReferrersRegistry(t)
	dir := t.TempDir()
	notation := func(args ...string) {
		t.Helper()
		cmd := exec.Command(harness.Tool(t, "notation"), args...)
		cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+dir, "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("notation %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	signer := notationKey(t, dir)
	tsaRoot := lastCert(t, s.TSACertChainPEM)
	rootFile := filepath.Join(dir, "tsa-root.pem")
	if err := os.WriteFile(rootFile, tsaRoot, 0o600); err != nil {
		t.Fatal(err)
	}
	img := harness.Push(t, reg.Host, "demo/notation-tsa:v1")
	notation("sign", "--insecure-registry", "--timestamp-url", s.TSAURL, "--timestamp-root-cert", rootFile, img.String())

	policy := func(tsCert []byte) string {
		indent := func(pemText []byte) string {
			return strings.ReplaceAll(strings.TrimSpace(string(pemText)), "\n", "\n      ")
		}
		return fmt.Sprintf(`apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators:
- name: notary
  type: notation
  trustRoots:
  - name: id
    cert: |
      %s
    tsCert: |
      %s
rules:
- pattern: "127.0.0.1:*/**"
  validator: notary
`, indent(signer), indent(tsCert))
	}
	t.Run("the TSA's root as tsCert is allowed", func(t *testing.T) {
		expect(t, policy(tsaRoot), img.String(), img.DigestStr(), 0, verify.Verified)
	})
	t.Run("another root as tsCert is denied", func(t *testing.T) {
		expect(t, policy(s.FulcioRootPEM), img.String(), img.DigestStr(), 1, verify.Failed)
	})
}

// lastCert returns the last certificate of a PEM chain (its root).
func lastCert(t *testing.T, chain []byte) []byte {
	t.Helper()
	var last *pem.Block
	for rest := chain; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		last = b
	}
	if last == nil {
		t.Fatalf("no certificate in %q", chain)
	}
	return pem.EncodeToMemory(last)
}

// notationKey installs a default notation signing key whose certificate
// (returned, PEM; self-signed, as generate-test's are) became valid an hour ago. `notation cert
// generate-test` makes one valid from now, which a timestamp signed within
// the TSA's one-second accuracy may precede: notation-go then rightly
// rejects the signature.
func notationKey(t *testing.T, dir string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1),
		Subject:   pkix.Name{CommonName: "tsa.example", Organization: []string{"signet"}, Country: []string{"DE"}, Province: []string{"BY"}, Locality: []string{"Munich"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	conf := filepath.Join(dir, "notation")
	keyPath, certPath := filepath.Join(conf, "signer.key"), filepath.Join(conf, "signer.crt")
	keys, _ := json.Marshal(map[string]any{"default": "signer", "keys": []any{map[string]string{"name": "signer", "keyPath": keyPath, "certPath": certPath}}})
	for path, b := range map[string][]byte{keyPath: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), certPath: cert, filepath.Join(conf, "signingkeys.json"): keys} {
		if err := os.MkdirAll(conf, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert
}

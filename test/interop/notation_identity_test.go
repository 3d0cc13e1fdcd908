package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
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

// TestNotationTrustPolicyFile: a notation configuration made by the
// notation CLI itself (`notation cert add`, `notation policy import`) is
// used verbatim through trustPolicyFile and trustStoreDir, and signet
// decides every image as `notation verify` does with that configuration.
func TestNotationTrustPolicyFile(t *testing.T) {
	t.Parallel()
	reg := harness.StartReferrersRegistry(t)
	ca, caKey := testCA(t)
	rel, dev := &notationEnv{dir: t.TempDir()}, &notationEnv{dir: t.TempDir()}
	k := rel.installLeaf(t, ca, caKey, acmeLeaf("release"), 2)
	dev.installLeaf(t, ca, caKey, acmeLeaf("dev"), 3)
	images := map[string]name.Digest{}
	for _, s := range []struct {
		n    *notationEnv
		repo string
	}{{rel, "demo/app:release"}, {dev, "demo/app:dev"}, {rel, "other/app:release"}} {
		img := harness.Push(t, reg.Host, s.repo)
		s.n.run(t, "sign", "--insecure-registry", "--force-referrers-tag=false", img.String())
		images[s.repo] = img
	}
	unsigned := harness.Push(t, reg.Host, "demo/app:unsigned")
	images["demo/app:unsigned"] = unsigned

	// The user's configuration, made by the CLI.
	cfg := &notationEnv{dir: t.TempDir()}
	caFile := filepath.Join(t.TempDir(), "acme.crt")
	if err := os.WriteFile(caFile, []byte(k.caPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.run(t, "cert", "add", "--type", "ca", "--store", "acme", caFile)
	policyJSON := `{"version": "1.0", "trustPolicies": [{
		"name": "release-only", "registryScopes": ["` + reg.Host + `/demo/app"],
		"signatureVerification": {"level": "strict"},
		"trustStores": ["ca:acme"], "trustedIdentities": ["x509.subject: C=US, ST=WA, O=Acme, CN=release"]}]}`
	pf := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(pf, []byte(policyJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.run(t, "policy", "import", "--force", pf)
	trustPolicy := filepath.Join(cfg.dir, "notation", "trustpolicy.json")
	if _, err := os.Stat(trustPolicy); err != nil {
		trustPolicy = filepath.Join(cfg.dir, "notation", "trustpolicy.oci.json")
	}
	policy := "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators:\n" +
		"- {name: notary, type: notation, trustPolicyFile: " + trustPolicy + ", trustStoreDir: " + filepath.Join(cfg.dir, "notation", "truststore", "x509") + "}\n" +
		"rules:\n- {pattern: \"" + reg.Host + "/**\", validator: notary}\n"

	for _, tc := range []struct {
		repo string
		code int
		want verify.Outcome
		has  string
	}{
		{"demo/app:release", 0, verify.Verified, ""},
		{"demo/app:dev", 1, verify.Failed, "X.509 trusted identities"},
		{"other/app:release", 1, verify.Failed, "no applicable trust policy"},
		{"demo/app:unsigned", 1, verify.Failed, "no Notation signatures found"},
	} {
		t.Run(tc.repo, func(t *testing.T) {
			img := images[tc.repo]
			code, ds, se := signet(t, policy, img.String())
			d := one(t, ds)
			expect(t, code, d, se, tc.code, tc.want, img.DigestStr())
			all := d.Reason
			for _, c := range d.Checks {
				all += " " + c.Reason
			}
			if !strings.Contains(all, tc.has) {
				t.Errorf("%q not in %s", tc.has, all)
			}
			// As notation would.
			cmd := exec.Command(harness.Tool(t, "notation"), "verify", "--insecure-registry", img.String())
			cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+cfg.dir, "HOME="+cfg.dir)
			out, err := cmd.CombinedOutput()
			if (err == nil) != (tc.code == 0) {
				t.Errorf("notation verify: %v\n%s\nsignet: exit %d", err, out, code)
			}
		})
	}

	// A broken file is a policy error.
	broken := filepath.Join(t.TempDir(), "trustpolicy.json")
	os.WriteFile(broken, []byte(`{"version": "1.0", "trustPolicies": [{"name": "x", "registryScopes": ["*"], "signatureVerification": {"level": "strict"}, "trustStores": ["ca:missing"], "trustedIdentities": ["*"]}]}`), 0o600)
	code, _, se := signet(t, strings.Replace(policy, trustPolicy, broken, 1), images["demo/app:release"].String())
	if code == 0 || !strings.Contains(se, "validators[0].trustPolicyFile") || !strings.Contains(se, "ca:missing") {
		t.Errorf("broken trust policy: exit %d\n%s", code, se)
	}
}

package interop

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

// notationEnv is an isolated notation configuration ($XDG_CONFIG_HOME).
type notationEnv struct{ dir string }

func (n *notationEnv) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(harness.Tool(t, "notation"), args...)
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+n.dir, "HOME="+n.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("notation %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// testCert makes a key pair with `notation cert generate-test` and returns
// its certificate (PEM), which is its own CA.
func (n *notationEnv) testCert(t *testing.T, name string) string {
	t.Helper()
	n.run(t, "cert", "generate-test", "--default", name)
	b, err := os.ReadFile(filepath.Join(n.dir, "notation", "localkeys", name+".crt"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// shortLivedKey installs a signing key whose certificate expires after
// life, issued by a CA it returns (PEM), as the default signing key.
func (n *notationEnv) shortLivedKey(t *testing.T, life time.Duration) string {
	t.Helper()
	return n.installKey(t, &x509.Certificate{
		Subject:   pkix.Name{CommonName: "short", Organization: []string{"signet"}, Country: []string{"DE"}, Province: []string{"BY"}, Locality: []string{"Munich"}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(life),
	}).caPEM
}

func notationPolicy(pattern string, certs map[string]string, with string) string {
	var b strings.Builder
	b.WriteString("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators:\n- name: notary\n  type: notation\n  trustRoots:\n")
	for _, n := range sortedNames(certs) {
		fmt.Fprintf(&b, "  - name: %s\n    cert: |\n      %s\n", n, strings.ReplaceAll(strings.TrimSpace(certs[n]), "\n", "\n      "))
	}
	fmt.Fprintf(&b, "rules:\n- pattern: %q\n  validator: notary\n", pattern)
	if with != "" {
		fmt.Fprintf(&b, "  with: %s\n", with)
	}
	return b.String()
}

// TestNotation covers signatures made by the real notation CLI: JWS and
// COSE, through the referrers API and the referrers tag schema.
func TestNotation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		start  func(testing.TB) *harness.Proc
		format string
		extra  []string
	}{
		{"JWS, referrers tag schema (distribution)", harness.StartDistribution, "jws", nil},
		{"COSE, referrers tag schema (distribution)", harness.StartDistribution, "cose", nil},
		{"JWS, referrers API", harness.StartReferrersRegistry, "jws", []string{"--force-referrers-tag=false"}},
		{"COSE, referrers API", harness.StartReferrersRegistry, "cose", []string{"--force-referrers-tag=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := tc.start(t)
			n := &notationEnv{dir: t.TempDir()}
			good := n.testCert(t, "good.example")
			other := (&notationEnv{dir: t.TempDir()}).testCert(t, "other.example")
			img := harness.Push(t, reg.Host, "demo/app:v1")
			n.run(t, append([]string{"sign", "--insecure-registry", "--signature-format", tc.format}, append(tc.extra, img.String())...)...)
			unsigned := harness.Push(t, reg.Host, "demo/app:unsigned")

			code, ds, se := signet(t, notationPolicy(reg.Host+"/**", map[string]string{"good": good}, ""), reg.Host+"/demo/app:v1")
			expect(t, code, one(t, ds), se, 0, verify.Verified, img.DigestStr())

			code, ds, se = signet(t, notationPolicy(reg.Host+"/**", map[string]string{"other": other}, ""), reg.Host+"/demo/app:v1")
			expect(t, code, one(t, ds), se, 1, verify.Failed, img.DigestStr())

			code, ds, se = signet(t, notationPolicy(reg.Host+"/**", map[string]string{"good": good}, ""), reg.Host+"/demo/app:unsigned")
			d := one(t, ds)
			expect(t, code, d, se, 1, verify.Failed, unsigned.DigestStr())
			if !strings.Contains(d.Reason, "no Notation signatures found") {
				t.Errorf("reason: %s", d.Reason)
			}
		})
	}
	t.Run("expired signing certificate", func(t *testing.T) {
		t.Parallel()
		reg := harness.StartReferrersRegistry(t)
		n := &notationEnv{dir: t.TempDir()}
		img := harness.Push(t, reg.Host, "demo/app:v1")
		// Long enough for notation to sign on a loaded machine; then wait
		// for it to expire.
		expiresAt := time.Now().Add(10 * time.Second)
		ca := n.shortLivedKey(t, 10*time.Second)
		n.run(t, "sign", "--insecure-registry", "--force-referrers-tag=false", img.String())
		time.Sleep(time.Until(expiresAt.Add(time.Second)))
		certs := map[string]string{"short": ca}
		for _, c := range []struct {
			with     string
			wantCode int
			want     verify.Outcome
		}{
			{"", 1, verify.Failed}, // strict: expiry is enforced
			{"{verifyTimestamp: afterCertExpiry}", 1, verify.Failed},                               // expired and no timestamp to vouch for it
			{"{verificationLevel: permissive}", 0, verify.Verified},                                // permissive: expiry is only logged
			{"{verificationOverride: {expiry: log, authenticTimestamp: log}}", 0, verify.Verified}, // strict, expiry and the timestamp check logged
		} {
			code, ds, se := signet(t, notationPolicy(reg.Host+"/**", certs, c.with), img.String())
			d := one(t, ds)
			expect(t, code, d, se, c.wantCode, c.want, img.DigestStr())
			if c.wantCode == 1 && !strings.Contains(fmt.Sprint(d.Checks), "expired") {
				t.Errorf("with %s: checks do not mention expiry: %+v", c.with, d.Checks)
			}
		}
	})
}

// TestCosignAndNotation: a rule naming a cosign and a notation validator
// admits only images signed both ways.
func TestCosignAndNotation(t *testing.T) {
	t.Parallel()
	reg := harness.StartReferrersRegistry(t)
	c := harness.NewCosign(t)
	key, pub := c.GenKey(t, harness.Tool(t, "cosign2"), "k1")
	n := &notationEnv{dir: t.TempDir()}
	ca := n.testCert(t, "release.example")
	both := harness.Push(t, reg.Host, "demo/app:both")
	c.SignV2(t, key, both)
	n.run(t, "sign", "--insecure-registry", "--force-referrers-tag=false", both.String())
	cosignOnly := harness.Push(t, reg.Host, "demo/app:cosign-only")
	c.SignV2(t, key, cosignOnly)

	policy := "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators:\n" +
		"- name: cosign\n  type: cosign\n  trustRoots:\n  - name: k1\n    key: |\n      " + strings.ReplaceAll(strings.TrimSpace(pub), "\n", "\n      ") + "\n" +
		"- name: notary\n  type: notation\n  trustRoots:\n  - name: release\n    cert: |\n      " + strings.ReplaceAll(strings.TrimSpace(ca), "\n", "\n      ") + "\n" +
		"rules:\n- {pattern: \"" + reg.Host + "/**\", validators: [cosign, notary]}\n"
	code, ds, se := signet(t, policy, both.String())
	d := one(t, ds)
	expect(t, code, d, se, 0, verify.Verified, both.DigestStr())
	if strings.Join(d.Signers, ",") != "cosign/k1,notary/release" {
		t.Errorf("signers = %v", d.Signers)
	}
	code, ds, se = signet(t, policy, cosignOnly.String())
	d = one(t, ds)
	expect(t, code, d, se, 1, verify.Failed, cosignOnly.DigestStr())
	if !strings.Contains(d.Reason, "validator notary:") {
		t.Errorf("reason does not name the failing validator: %s", d.Reason)
	}
}

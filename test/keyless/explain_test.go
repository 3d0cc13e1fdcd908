package keyless

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

// testExplain: signet explain on images signed keylessly by the real
// cosign CLIs, with a Rekor entry and an RFC 3161 timestamp, shows what
// cosign and sigstore-go verified: where the signature was found, the
// certificate's subject and issuers, the Rekor log index and integrated
// time, and the timestamp.
func testExplain(t *testing.T, s *harness.Sigstore) {
	reg := harness.StartReferrersRegistry(t)
	for _, tc := range []struct {
		name, repo, source string
		sign               func(*testing.T, *harness.Cosign, name.Digest)
	}{
		{"cosign v2 legacy .sig", "demo/legacy:v1", verify.SourceSigTag, func(t *testing.T, c *harness.Cosign, img name.Digest) {
			c.Run(t, harness.Tool(t, "cosign2"), "sign", "--yes", "--fulcio-url", s.FulcioURL, "--rekor-url", s.RekorURL,
				"--oidc-issuer", s.Issuer(), "--identity-token", s.Token(t, alice),
				"--timestamp-server-url", s.TSAURL, "--allow-insecure-registry", "--allow-http-registry", img.String())
		}},
		{"cosign v3 bundle", "demo/bundle:v1", verify.SourceReferrer, func(t *testing.T, c *harness.Cosign, img name.Digest) {
			c.Run(t, harness.Tool(t, "cosign3"), "sign", "--yes", "--signing-config", s.SigningConfig(t, true, true),
				"--trusted-root", s.TrustedRootFile, "--identity-token", s.Token(t, alice),
				"--allow-insecure-registry", "--allow-http-registry", img.String())
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			img := harness.Push(t, reg.Host, tc.repo)
			tc.sign(t, newCosign(t, s), img)
			ref := reg.Host + "/" + tc.repo
			p := filepath.Join(t.TempDir(), "policy.yaml")
			if err := os.WriteFile(p, []byte(harness.ListInsecure(keylessPolicy(s, exact(s, alice), ""), ref)), 0o600); err != nil {
				t.Fatal(err)
			}
			run := func(output string) (int, string) {
				cmd := exec.Command(harness.Bin(t, "signet"), "explain", "--policy", p, "--output", output, ref)
				cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir(), "HOME="+t.TempDir())
				code, stdout, stderr := harness.ExitCode(t, cmd)
				if code != 0 {
					t.Fatalf("explain -o %s: exit %d\n%s\nstderr: %s", output, code, stdout, stderr)
				}
				return code, stdout
			}
			_, js := run("json")
			var tr policy.Trace
			if err := json.Unmarshal([]byte(js), &tr); err != nil {
				t.Fatalf("%v\n%s", err, js)
			}
			if len(tr.Verifications) != 1 {
				t.Fatalf("verifications %+v", tr.Verifications)
			}
			var passed *verify.Check
			for i, c := range tr.Verifications[0].Checks {
				if c.Passed {
					passed = &tr.Verifications[0].Checks[i]
				}
			}
			switch e := passed; {
			case e == nil:
				t.Fatalf("no check passed: %+v", tr.Verifications[0].Checks)
			case e.Kind != verify.KindSignature || e.Source != tc.source || e.Evidence == nil:
				t.Fatalf("check %+v", *e)
			case e.Subject != alice || e.Issuer != s.Issuer() || e.CertificateIssuer == "":
				t.Errorf("certificate subject %q issuer %q certificate issuer %q, want %q at %q", e.Subject, e.Issuer, e.CertificateIssuer, alice, s.Issuer())
			case e.LogIndex == nil || e.IntegratedTime == nil || e.IntegratedTime.IsZero():
				t.Errorf("Rekor log index %v integrated time %v, want both", e.LogIndex, e.IntegratedTime)
			case len(e.Timestamps) != 1:
				t.Errorf("timestamps %v, want the TSA's", e.Timestamps)
			}
			_, text := run("text")
			for _, want := range []string{"certificate subject: " + alice, "OIDC issuer: " + s.Issuer(), "Rekor log index ", ", integrated ", "timestamp ", "(" + tc.source + ")", "decision: allowed (verified)"} {
				if !strings.Contains(text, want) {
					t.Errorf("text output lacks %q:\n%s", want, text)
				}
			}
		})
	}
}

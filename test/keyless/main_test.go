package keyless

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

func TestMain(m *testing.M) {
	os.Exit(harness.RunInNetNS(m, harness.PrepareSigstore, func() error {
		for _, tool := range []string{"cosign2", "registry", "notation"} {
			if _, err := harness.ToolPath(tool); err != nil {
				return err
			}
		}
		return nil
	}))
}

// identity is a keyless trust root's expectations, as in the policy.
type identity struct {
	Issuer       string `json:"issuer,omitempty"`
	IssuerRegex  string `json:"issuerRegex,omitempty"`
	Subject      string `json:"subject,omitempty"`
	SubjectRegex string `json:"subjectRegex,omitempty"`
}

// keylessPolicy is a policy with one cosign validator trusting the stack's
// trusted root and the identity id (trust root "id"), for every image on
// the loopback registries; with is the rule's extra options (verifySCT
// is left to its default, true: the stack's Fulcio embeds SCTs from its CT
// log).
func keylessPolicy(s *harness.Sigstore, id identity, with string) string {
	idJSON, _ := json.Marshal(id) // JSON is YAML
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators:
- name: keyless
  type: cosign
  trustedRootFile: %s
  trustRoots:
  - name: id
    keyless: %s
rules:
- pattern: "127.0.0.1:*/**"
  validator: keyless
  with: {trustRoot: id%s}
`, s.TrustedRootFile, idJSON, with)
	return b.String()
}

// exact is the identity alice@example.test at the stack's issuer.
func exact(s *harness.Sigstore, subject string) identity {
	return identity{Issuer: s.Issuer(), Subject: subject}
}

// issuerRE matches exactly the stack's issuer.
func issuerRE(s *harness.Sigstore) string { return "^" + regexp.QuoteMeta(s.Issuer()) + "$" }

// signet runs the built binary with a policy and decodes its JSON output.
func signet(t *testing.T, policyYAML string, images ...string) (int, []policy.Decision, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(harness.ListInsecure(policyYAML, images...)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(harness.Bin(t, "signet"), append([]string{"verify", "--policy", p, "--output", "json"}, images...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir(), "HOME="+t.TempDir())
	code, stdout, stderr := harness.ExitCode(t, cmd)
	var ds []policy.Decision
	if len(stdout) > 0 {
		if err := json.Unmarshal([]byte(stdout), &ds); err != nil {
			t.Fatalf("decoding output: %v\n%s\nstderr: %s", err, stdout, stderr)
		}
	}
	return code, ds, stderr
}

// expect runs signet on img and checks its exit code, outcome and digest
// (0 verified, 1 failed, 3 inconclusive), and on success that the trust
// root "id" is the signer and the image is pinned to that digest.
func expect(t *testing.T, policyYAML, img string, digest string, wantCode int, wantOutcome verify.Outcome) policy.Decision {
	t.Helper()
	code, ds, stderr := signet(t, policyYAML, img)
	if len(ds) != 1 {
		t.Fatalf("exit %d, %d decisions, want 1\nstderr: %s\npolicy:\n%s", code, len(ds), stderr, policyYAML)
	}
	d := ds[0]
	if code != wantCode || d.Outcome != wantOutcome {
		t.Fatalf("exit %d outcome %s, want exit %d outcome %s\nreason: %s\nchecks: %+v\nstderr: %s\npolicy:\n%s",
			code, d.Outcome, wantCode, wantOutcome, d.Reason, d.Checks, stderr, policyYAML)
	}
	if d.Allowed != (wantCode == 0) {
		t.Errorf("allowed = %v with exit %d", d.Allowed, code)
	}
	if d.Digest != digest {
		t.Errorf("digest %s, want %s", d.Digest, digest)
	}
	if wantCode == 0 && strings.Join(d.Signers, ",") != "id" {
		t.Errorf("signers = %v, want [id]", d.Signers)
	}
	if wantCode == 0 && !strings.HasSuffix(d.Pinned, "@"+digest) {
		t.Errorf("pinned = %q, want the repository @%s", d.Pinned, digest)
	}
	return d
}

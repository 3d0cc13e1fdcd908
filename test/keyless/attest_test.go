package keyless

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

const ciBuilder = "https://ci.example/builder"

// attestKeyless attaches a SLSA v1 provenance naming builder to img, signed
// keylessly as email with the real cosign of f (v2: legacy .att; v3: a
// Sigstore bundle referrer), logged in the stack's Rekor.
func attestKeyless(t *testing.T, s *harness.Sigstore, c *harness.Cosign, v3 bool, email, builder string, img name.Digest) {
	t.Helper()
	pred := filepath.Join(t.TempDir(), "provenance.json")
	b, _ := json.Marshal(map[string]any{
		"buildDefinition": map[string]any{"buildType": "https://ci.example/build/v1", "externalParameters": map[string]any{"repository": "https://git.example/acme/app"}},
		"runDetails":      map[string]any{"builder": map[string]any{"id": builder}},
	})
	if err := os.WriteFile(pred, b, 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"attest", "--yes", "--predicate", pred, "--type", "slsaprovenance1", "--identity-token", s.Token(t, email),
		"--allow-insecure-registry", "--allow-http-registry"}
	if v3 {
		args = append(args, "--signing-config", s.SigningConfig(t, true, false), "--trusted-root", s.TrustedRootFile)
		c.Run(t, harness.Tool(t, "cosign3"), append(args, img.String())...)
		return
	}
	args = append(args, "--fulcio-url", s.FulcioURL, "--rekor-url", s.RekorURL, "--oidc-issuer", s.Issuer())
	if s.CTLogURL == "" { // a Fulcio without CT: no SCT to check
		args = append(args, "--insecure-skip-verify")
	}
	c.Run(t, harness.Tool(t, "cosign2"), append(args, img.String())...)
}

// attestFormats are the real cosign's two ways of storing an attestation,
// each with a registry that serves it.
var attestFormats = []attestFormat{
	{"cosign v2 attest, legacy .att", false, harness.StartDistribution},
	{"cosign v3 attest, bundle referrer", true, harness.StartReferrersRegistry},
}

type attestFormat struct {
	name     string
	v3       bool
	registry func(testing.TB) *harness.Proc
}

// sign signs img keylessly as id with the cosign version of the format.
func (f attestFormat) sign(t *testing.T, s *harness.Sigstore, c *harness.Cosign, id string, img name.Digest) {
	t.Helper()
	sign := formats[0].sign
	if f.v3 {
		sign = signV3
	}
	sign(t, s, c, id, img, true)
}

// testAttestations: keyless attestations made by the real cosign v2 and v3
// against the local stack count only for the identity the requirement
// trusts, and their conditions read the signer's identity.
func testAttestations(t *testing.T, s *harness.Sigstore) {
	for _, f := range attestFormats {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			reg := f.registry(t)
			c := newCosign(t, s)
			img := harness.Push(t, reg.Host, "demo/attested:v1")
			f.sign(t, s, c, alice, img)
			attestKeyless(t, s, c, f.v3, alice, "https://rogue.example/builder", img)
			attestKeyless(t, s, c, f.v3, alice, ciBuilder, img)

			requirement := func(cond, message string) string {
				return `, attestations: [{name: provenance, type: slsaprovenance1, conditions: [{expression: '` + cond + `', message: "` + message + `"}]}]`
			}
			byCI := `predicate.runDetails.builder.id == "` + ciBuilder + `"`
			bySigner := `signer.trustRoot == "id" && signer.subject == "` + alice + `" && signer.issuer == "` + s.Issuer() + `"`
			for _, tc := range []struct {
				name    string
				id      identity
				with    string
				code    int
				outcome verify.Outcome
				reason  string
			}{
				{"provenance by alice, second of two holds", exact(s, alice), requirement(byCI+" && "+bySigner, "built by CI, attested by alice"), 0, verify.Verified, `requirement "provenance" met by slsaprovenance1 attestation`},
				{"a condition on the builder fails for both", exact(s, alice), requirement(`predicate.runDetails.builder.id == "https://release.example/builder"`, "built by the release builder"), 1, verify.Failed, "built by the release builder"},
				{"another identity's requirement is not met", exact(s, bob), requirement(byCI, "built by CI"), 1, verify.Failed, "no slsaprovenance1 attestation of"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					p := keylessPolicy(s, tc.id, tc.with)
					if tc.id.Subject == bob {
						// Signatures by alice; attestations by bob.
						idJSON, _ := json.Marshal(exact(s, alice))
						p = strings.Replace(p, "rules:\n", "  - name: alice\n    keyless: "+string(idJSON)+"\nrules:\n", 1)
						p = strings.Replace(p, "with: {trustRoot: id", "with: {trustRoot: alice", 1)
						p = strings.Replace(p, "{name: provenance,", "{name: provenance, trustRoot: id,", 1)
					}
					code, ds, se := signet(t, p, img.String())
					if code != tc.code || len(ds) != 1 || ds[0].Outcome != tc.outcome || len(ds[0].Attestations) != 1 {
						t.Fatalf("exit %d, want %d; %+v\nstderr: %s\npolicy:\n%s", code, tc.code, ds, se, p)
					}
					a := ds[0].Attestations[0]
					if a.Outcome != tc.outcome || !strings.Contains(a.Reason, tc.reason) {
						t.Errorf("%s: %s, want %s containing %q", a.Outcome, a.Reason, tc.outcome, tc.reason)
					}
					if tc.code == 0 && (strings.Join(a.Signers, ",") != "id" || !strings.HasPrefix(a.Statement, "sha256:")) {
						t.Errorf("satisfied by %+v", a)
					}
				})
			}
		})
	}
}

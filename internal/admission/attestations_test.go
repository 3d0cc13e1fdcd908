package admission_test

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/signet-dev/signet/internal/admission"
	sigtest "github.com/signet-dev/signet/internal/testutil"
)

// ciBuilder is the builder the attested rule's provenance condition wants.
const ciBuilder = "https://ci.example/builder"

// attestedImages pushes two signed images under attested/, each with a SLSA
// v1 provenance signed by key: attested/app:good built by ciBuilder,
// attested/app:other by another builder. It returns the replacer pairs that
// turn their digests and their statements' digests into placeholders.
func attestedImages(t *testing.T, reg *sigtest.Registry, key *sigtest.Key) []string {
	t.Helper()
	var pairs []string
	for _, img := range []struct{ name, builder string }{
		{"attested/app:good", ciBuilder},
		{"attested/app:other", "https://evil.example/builder"},
	} {
		d := reg.PushImage(t, img.name)
		sigtest.SignLegacy(t, d, key)
		st := sigtest.StatementOf("https://slsa.dev/provenance/v1", map[string]any{
			"buildDefinition": map[string]any{"buildType": "https://ci.example/build/v1"},
			"runDetails":      map[string]any{"builder": map[string]any{"id": img.builder}},
		}, d)
		sigtest.AppendAttestation(t, d, key, st, "https://slsa.dev/provenance/v1")
		pairs = append(pairs, fmt.Sprintf("sha256:%x", sha256.Sum256(st)), "sha256:<provenance of "+img.name+">",
			d.DigestStr(), "sha256:<"+img.name+">",
			strings.Replace(d.DigestStr(), ":", "-", 1), "sha256-<"+img.name+">")
	}
	return pairs
}

// attestedRule is the rule for attested/: signed by the key, with a SLSA v1
// provenance naming ciBuilder.
func attestedRule(h string) string {
	return `- {pattern: "` + h + `/attested/**", validator: signed, with: {attestations: [{name: built-by-ci, type: slsaprovenance1, conditions: [{expression: 'predicate.runDetails.builder.id == "` + ciBuilder + `"', message: "built by the CI builder"}]}]}}
`
}

// TestAttestationChecksCounted: the golden reviews of a Deployment with a
// good provenance and one whose provenance names another builder count one
// verified and one failed check of the requirement.
func TestAttestationChecksCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, admission.Options{})
	for name, allowed := range map[string]bool{"deployment-provenance": true, "deployment-provenance-other-builder": false} {
		in, err := os.ReadFile("testdata/reviews/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		in = []byte(strings.ReplaceAll(string(in), "REGISTRY", e.reg.Host))
		code, body := post(t, e.reviewer.Handler(true), "application/json", in)
		if a := decodeAnswer(t, code, body); a.Response.Allowed != allowed {
			t.Errorf("%s: allowed %v, want %v: %s", name, a.Response.Allowed, allowed, body)
		}
	}
	want := `
# HELP signet_attestation_checks_total Attestation requirements checked for image decisions, by requirement name (the rule's with.attestations[].name) and outcome (verified, failed, inconclusive).
# TYPE signet_attestation_checks_total counter
signet_attestation_checks_total{outcome="failed",requirement="built-by-ci"} 1
signet_attestation_checks_total{outcome="verified",requirement="built-by-ci"} 1
`
	if err := testutil.GatherAndCompare(e.metrics.Registry, strings.NewReader(want), "signet_attestation_checks_total"); err != nil {
		t.Error(err)
	}
}

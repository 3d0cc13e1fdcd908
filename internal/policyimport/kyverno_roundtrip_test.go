package policyimport

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
)

// TestKyvernoRoundTrip signs images with real cosign signatures in a
// registry, converts Kyverno policies, and compares the converted policy's
// decisions (policy.Compile, Engine.Evaluate) with what Kyverno decides
// for each image, worked out from its semantics: every verifyImages entry
// whose imageReferences match must pass (an attestor set passes when
// count of its entries verify, all of them without count; all sets must
// pass), skipImageReferences exempt an image from their entry, Audit
// admits, and an image no entry matches is admitted.
func TestKyvernoRoundTrip(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, true)
	h := reg.Host
	a, b, c := testutil.NewKey(t), testutil.NewKey(t), testutil.NewKey(t)
	key := func(k *testutil.Key) string {
		return "        - keys:\n            publicKeys: |-\n              " + testutil.Indent(k.PEM, 14) + "\n"
	}
	platform := `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: platform
spec:
  validationFailureAction: Enforce
  rules:
  - name: prod
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["` + h + `/prod/*"]
      skipImageReferences: ["` + h + `/prod/tools/*"]
      attestors:
      - count: 1
        entries:
` + key(a) + key(b) + `  - name: critical
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["` + h + `/critical/*:v*"]
      attestors:
      - entries:
` + key(a) + `      - entries:
` + key(c) + `---
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: audit-only
spec:
  validationFailureAction: Audit
  rules:
  - name: audit
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["` + h + `/audit/*"]
      attestors:
      - entries:
` + key(a)
	payments := `apiVersion: kyverno.io/v2beta1
kind: ClusterPolicy
metadata:
  name: payments
spec:
  validationFailureAction: Enforce
  rules:
  - name: payments
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["` + h + `/prod/payments/*"]
      attestors:
      - entries:
` + key(c)
	doc, _, out := importKyverno(t, platform, payments)
	doc.InsecureRegistries = []string{h}
	eng, err := policy.Compile(doc, registry.MustNew())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	push := func(repoTag string, keys ...*testutil.Key) name.Digest {
		d := reg.PushImage(t, repoTag)
		for _, k := range keys {
			testutil.SignLegacy(t, d, k)
		}
		return d
	}
	push("prod/app:1", a)
	push("prod/app:2", b)
	push("prod/app:3")
	push("prod/app:4", c)
	push("prod/tools/debug:1")
	push("prod/payments/api:1", a)
	push("prod/payments/api:2", a, c)
	push("prod/payments/api:3", c)
	push("critical/db:v1", a)
	push("critical/db:v2", a, c)
	push("critical/db:latest")
	unsignedDigest := push("critical/db:unsigned")
	push("other/app:1")
	push("audit/app:1")
	signedByDigest := push("prod/app:5", b)

	for _, c := range []struct {
		image   string
		kyverno bool // admitted
	}{
		{"prod/app:1", true},                                       // one of A, B
		{"prod/app:2", true},                                       //
		{"prod/app:3", false},                                      // unsigned
		{"prod/app:4", false},                                      // C is not an attestor
		{"prod/tools/debug:1", true},                               // skipped
		{"prod/payments/api:1", false},                             // platform passes, payments needs C
		{"prod/payments/api:2", true},                              // both
		{"prod/payments/api:3", false},                             // payments passes, platform needs A or B
		{"critical/db:v1", false},                                  // needs A and C
		{"critical/db:v2", true},                                   //
		{"critical/db:latest", true},                               // the tag does not match v*
		{"other/app:1", true},                                      // no rule matches
		{"audit/app:1", true},                                      // Audit admits
		{strings.TrimPrefix(unsignedDigest.String(), h+"/"), true}, // "critical/*:v*" never matches a digest
		{strings.TrimPrefix(signedByDigest.String(), h+"/"), true},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		d := eng.Evaluate(ctx, h+"/"+c.image)
		cancel()
		admitted := d.Allowed || d.Mode == policy.ModeAudit
		if admitted != c.kyverno {
			t.Errorf("%s: signet admits %v (%s: %s), Kyverno %v", c.image, admitted, d.Outcome, d.Reason, c.kyverno)
		}
	}
}

// TestKyvernoRoundTripAttestations: a Kyverno attestation check whose
// condition converts to CEL decides signed images with real attestations
// as Kyverno does: the image signed, and an attestation of the type signed
// by the attestation's attestors whose predicate meets the condition.
func TestKyvernoRoundTripAttestations(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, true)
	h := reg.Host
	signer, builder, stranger := testutil.NewKey(t), testutil.NewKey(t), testutil.NewKey(t)
	const slsa1 = "https://slsa.dev/provenance/v1"
	const workflow = "https://actions.github.io/buildtypes/workflow/v1"
	in := `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: provenance
spec:
  validationFailureAction: Enforce
  rules:
  - name: built
    match: {any: [{resources: {kinds: [Pod]}}]}
    verifyImages:
    - imageReferences: ["` + h + `/built/*"]
      attestors:
      - entries:
        - keys:
            publicKeys: |-
              ` + testutil.Indent(signer.PEM, 14) + `
      attestations:
      - predicateType: ` + slsa1 + `
        attestors:
        - entries:
          - keys:
              publicKeys: |-
                ` + testutil.Indent(builder.PEM, 16) + `
        conditions:
        - all:
          - key: "{{ buildDefinition.buildType }}"
            operator: Equals
            value: ` + workflow + `
`
	doc, _, out := importKyverno(t, in)
	doc.InsecureRegistries = []string{h}
	eng, err := policy.Compile(doc, registry.MustNew())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	image := func(repoTag string, sign bool, by *testutil.Key, buildType string) {
		d := reg.PushImage(t, repoTag)
		if sign {
			testutil.SignLegacy(t, d, signer)
		}
		if by != nil {
			pred := map[string]any{"buildDefinition": map[string]any{"buildType": buildType}}
			testutil.AppendAttestation(t, d, by, testutil.StatementOf(slsa1, pred, d), slsa1)
		}
	}
	image("built/good:1", true, builder, workflow)
	image("built/other-build:1", true, builder, "https://evil.example/build")
	image("built/untrusted-attestation:1", true, stranger, workflow)
	image("built/no-attestation:1", true, nil, "")
	image("built/unsigned:1", false, builder, workflow)
	for _, c := range []struct {
		image   string
		kyverno bool
	}{
		{"built/good:1", true},
		{"built/other-build:1", false},
		{"built/untrusted-attestation:1", false},
		{"built/no-attestation:1", false},
		{"built/unsigned:1", false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		d := eng.Evaluate(ctx, h+"/"+c.image)
		cancel()
		if d.Allowed != c.kyverno {
			t.Errorf("%s: signet allows %v (%s: %s), Kyverno %v", c.image, d.Allowed, d.Outcome, d.Reason, c.kyverno)
		}
	}
}

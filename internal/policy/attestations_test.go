package policy_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

const (
	slsa1 = "https://slsa.dev/provenance/v1"
	vuln  = "https://cosign.sigstore.dev/attestation/vuln/v1"
)

// provenance is a SLSA v1 predicate naming builder.
func provenance(builder string) map[string]any {
	return map[string]any{
		"buildDefinition": map[string]any{"buildType": "https://ci.example/build/v1"},
		"runDetails":      map[string]any{"builder": map[string]any{"id": builder}},
	}
}

// scan is a cosign vuln predicate with critical findings, finished at t.
func scan(critical int, t time.Time) map[string]any {
	return map[string]any{
		"scanner":  map[string]any{"uri": "pkg:github/aquasecurity/trivy", "result": map[string]any{"summary": map[string]any{"critical": critical}}},
		"metadata": map[string]any{"scanStartedOn": t.Add(-time.Minute).Format(time.RFC3339), "scanFinishedOn": t.Format(time.RFC3339)},
	}
}

const builder = "https://ci.example/builder"

func attestationPolicy(keyPEM, otherPEM, h string) string {
	return `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
insecureRegistries: [` + h + `]
validators:
- name: signed
  type: cosign
  trustRoots:
  - name: ci
    key: |
      ` + testutil.Indent(keyPEM, 6) + `
- name: scanners
  type: cosign
  trustRoots:
  - name: scanner
    key: |
      ` + testutil.Indent(otherPEM, 6) + `
rules:
- pattern: "` + h + `/built/**"
  validator: signed
  with:
    attestations:
    - name: built-by-ci
      type: slsaprovenance1
      conditions:
      - expression: 'predicate.runDetails.builder.id == "` + builder + `"'
        message: built by the CI builder
- pattern: "` + h + `/scanned/**"
  validator: signed
  with:
    attestations:
    - name: built-by-ci
      type: slsaprovenance1
    - name: no-criticals
      type: vuln
      validator: scanners
      conditions:
      - expression: predicate.scanner.result.summary.critical == 0
        message: no critical vulnerabilities
      - expression: timestamp(predicate.metadata.scanFinishedOn) > now - duration("168h")
        message: scanned in the last 7 days
`
}

func TestAttestations(t *testing.T) {
	t.Parallel()
	key, scanner, stranger := testutil.NewKey(t), testutil.NewKey(t), testutil.NewKey(t)
	reg := testutil.NewRegistry(t, true)
	h := reg.Host
	eng := compileYAML(t, attestationPolicy(key.PEM, scanner.PEM, h))

	push := func(repo string) name.Digest {
		d := reg.PushImage(t, repo)
		testutil.SignLegacy(t, d, key)
		return d
	}
	attest := func(d name.Digest, k *testutil.Key, typ string, pred any) {
		testutil.AppendAttestation(t, d, k, testutil.StatementOf(typ, pred, d), typ)
	}
	now := time.Now()

	good := push("built/good:1")
	attest(good, key, slsa1, provenance(builder))

	other := push("built/other:1")
	attest(other, key, slsa1, provenance("https://evil.example/builder"))

	second := push("built/second:1")
	attest(second, key, slsa1, provenance("https://evil.example/builder"))
	attest(second, key, slsa1, provenance(builder))

	push("built/none:1")

	untrusted := push("built/untrusted:1")
	attest(untrusted, stranger, slsa1, provenance(builder))

	copied := push("built/copied:1")
	testutil.AppendAttestation(t, copied, key, testutil.StatementOf(slsa1, provenance(builder), good), slsa1)

	tampered := push("built/tampered:1")
	tamperedEnvelope(t, tampered, key)

	mislabelled := push("built/mislabelled:1")
	testutil.AppendAttestation(t, mislabelled, key, testutil.StatementOf(vuln, provenance(builder), mislabelled), slsa1)

	lacking := push("built/lacking:1")
	attest(lacking, key, slsa1, map[string]any{"buildDefinition": map[string]any{}})

	bundled := push("built/bundled:1")
	testutil.AttachBundle(t, bundled, key, testutil.StatementOf(slsa1, provenance(builder), bundled))

	unsignedImage := reg.PushImage(t, "built/unsigned:1")
	attest(unsignedImage, key, slsa1, provenance(builder))

	scanned := push("scanned/app:1")
	attest(scanned, key, slsa1, provenance(builder))
	attest(scanned, scanner, vuln, scan(0, now.Add(-time.Hour)))

	critical := push("scanned/critical:1")
	attest(critical, key, slsa1, provenance(builder))
	attest(critical, scanner, vuln, scan(2, now.Add(-time.Hour)))

	stale := push("scanned/stale:1")
	attest(stale, key, slsa1, provenance(builder))
	attest(stale, scanner, vuln, scan(0, now.Add(-30*24*time.Hour)))

	wrongSigner := push("scanned/wrong-signer:1")
	attest(wrongSigner, key, slsa1, provenance(builder))
	attest(wrongSigner, key, vuln, scan(0, now.Add(-time.Hour))) // scans count only when the scanner signed

	tests := []struct {
		name    string
		image   string
		outcome verify.Outcome
		has     []string
	}{
		{"good provenance", h + "/built/good:1", verify.Verified, []string{`requirement "built-by-ci" met`}},
		{"by digest", h + "/built/good@" + good.DigestStr(), verify.Verified, nil},
		{"another builder", h + "/built/other:1", verify.Failed, []string{"built by the CI builder", "built-by-ci"}},
		{"second attestation holds", h + "/built/second:1", verify.Verified, nil},
		{"no attestation", h + "/built/none:1", verify.Failed, []string{"no slsaprovenance1 attestation", `validator "signed" [ci]`}},
		{"untrusted key", h + "/built/untrusted:1", verify.Failed, []string{"no slsaprovenance1 attestation"}},
		{"copied from another image", h + "/built/copied:1", verify.Failed, []string{"no slsaprovenance1 attestation"}},
		{"tampered payload", h + "/built/tampered:1", verify.Failed, []string{"no slsaprovenance1 attestation"}},
		{"statement type disagrees", h + "/built/mislabelled:1", verify.Failed, []string{"no slsaprovenance1 attestation"}},
		{"field missing", h + "/built/lacking:1", verify.Failed, []string{"built by the CI builder"}},
		{"v3 bundle referrer", h + "/built/bundled:1", verify.Verified, nil},
		{"attested but unsigned", h + "/built/unsigned:1", verify.Failed, []string{"no cosign signatures"}},
		{"provenance and scan", h + "/scanned/app:1", verify.Verified, nil},
		{"criticals", h + "/scanned/critical:1", verify.Failed, []string{"no critical vulnerabilities", "no-criticals"}},
		{"stale scan", h + "/scanned/stale:1", verify.Failed, []string{"scanned in the last 7 days"}},
		{"scan signed by the wrong key", h + "/scanned/wrong-signer:1", verify.Failed, []string{"no vuln attestation", `validator "scanners" [scanner]`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := eng.Evaluate(context.Background(), tc.image)
			if d.Outcome != tc.outcome || d.Allowed != (tc.outcome == verify.Verified) {
				t.Fatalf("outcome %s allowed %v, want %s; reason: %s", d.Outcome, d.Allowed, tc.outcome, d.Reason)
			}
			for _, s := range tc.has {
				if !strings.Contains(d.Reason, s) && !attestationReasonsHave(d, s) {
					t.Errorf("reason lacks %q:\n%s\n%+v", s, d.Reason, d.Attestations)
				}
			}
			if len(d.Attestations) == 0 {
				t.Errorf("no attestation results")
			}
		})
	}
}

func attestationReasonsHave(d policy.Decision, s string) bool {
	for _, a := range d.Attestations {
		if strings.Contains(a.Reason, s) {
			return true
		}
	}
	return false
}

// tamperedEnvelope attaches to img an envelope signed by key whose payload
// was changed after signing: another builder named.
func tamperedEnvelope(t *testing.T, img name.Digest, key *testutil.Key) {
	t.Helper()
	env, err := fixture.DSSEEnvelope(key.Key, testutil.StatementOf(slsa1, provenance("https://evil.example/builder"), img))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	m["payload"] = testutil.StatementOf(slsa1, provenance(builder), img) // []byte: base64 again
	env, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := fixture.AppendEnvelope(img, env, slsa1); err != nil {
		t.Fatal(err)
	}
}

// TestAttestationRequests counts the registry requests of a cold check:
// a signature and two attestations (legacy, one .att manifest) cost the
// .att manifest, shared by both requirements, and one envelope each more
// than the signature alone.
func TestAttestationRequests(t *testing.T) {
	t.Parallel()
	key, scanner := testutil.NewKey(t), testutil.NewKey(t)
	reg := testutil.NewRegistry(t, true)
	h := reg.Host
	y := attestationPolicy(key.PEM, scanner.PEM, h) + `- {pattern: "` + h + `/plain/**", validator: signed}
`
	eng := compileYAML(t, y)
	plain := reg.PushImage(t, "plain/app:1")
	testutil.SignLegacy(t, plain, key)
	scanned := reg.PushImage(t, "scanned/app:1")
	testutil.SignLegacy(t, scanned, key)
	testutil.AppendAttestation(t, scanned, key, testutil.StatementOf(slsa1, provenance(builder), scanned), slsa1)
	testutil.AppendAttestation(t, scanned, scanner, testutil.StatementOf(vuln, scan(0, time.Now()), scanned), vuln)

	count := func(image string) int64 {
		reg.Reset()
		if d := eng.Evaluate(context.Background(), image); !d.Allowed {
			t.Fatalf("%s denied: %s", image, d.Reason)
		}
		return reg.Requests()
	}
	alone, with := count(h+"/plain/app:1"), count(h+"/scanned/app:1")
	t.Logf("cold check: signature alone %d requests, with two attestations %d (%v)", alone, with, reg.Paths())
	if with-alone > 3 {
		t.Errorf("two attestations cost %d requests more than the signature alone, want at most 3", with-alone)
	}
}

func TestAttestationPolicyErrors(t *testing.T) {
	t.Parallel()
	key := testutil.Indent(testutil.NewKey(t).PEM, 6)
	head := `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators:
- name: signed
  type: cosign
  trustRoots:
  - name: ci
    key: |
      ` + key + `
  - name: release
    key: |
      ` + key + `
- {name: allow, type: static, approve: true}
- {name: notary, type: notation, trustRoots: [{name: ca, cert: x}]}
rules:
`
	tests := []struct {
		name, rules string
		want        []string
	}{
		{"name and type required", `- pattern: "a/**"
  validator: signed
  with: {trustRoot: ci, attestations: [{conditions: [{expression: "true"}]}]}
`, []string{"rules[0].with.attestations[0].name: is required", "rules[0].with.attestations[0].type: is required"}},
		{"duplicate name, unknown type", `- pattern: "a/**"
  validator: signed
  with:
    trustRoot: ci
    attestations:
    - {name: x, type: slsaprovenance1}
    - {name: x, type: slsa-something}
`, []string{`rules[0].with.attestations[1].name: duplicate requirement name "x"`, "rules[0].with.attestations[1].type:"}},
		{"static rule", `- pattern: "a/**"
  validator: allow
  with: {attestations: [{name: x, type: cyclonedx}]}
`, []string{`rules[0].with.attestations: validator "allow" is static`}},
		{"notation validator", `- pattern: "a/**"
  validator: signed
  with: {trustRoot: ci, attestations: [{name: x, type: cyclonedx, validator: notary}]}
`, []string{`rules[0].with.attestations[0].validator: validator "notary" is notation`}},
		{"unknown validator, trust root", `- pattern: "a/**"
  validator: signed
  with:
    trustRoot: ci
    attestations:
    - {name: x, type: cyclonedx, validator: nope}
    - {name: y, type: cyclonedx, trustRoot: nope}
    - {name: z, type: cyclonedx, trustRoot: "*", threshold: 3}
`, []string{`rules[0].with.attestations[0].validator: unknown validator "nope"`, `rules[0].with.attestations[1].trustRoot: validator "signed" has no trust root "nope"`, "rules[0].with.attestations[2].threshold: 3 exceeds"}},
		{"several validators", `- pattern: "a/**"
  validators: [signed, allow]
  with: {trustRoot: ci, attestations: [{name: x, type: cyclonedx}]}
`, []string{"rules[0].with.attestations[0].validator: is required: the rule names several validators"}},
		{"empty expression", `- pattern: "a/**"
  validator: signed
  with: {trustRoot: ci, attestations: [{name: x, type: cyclonedx, conditions: [{expression: " "}]}]}
`, []string{"rules[0].with.attestations[0].conditions[0].expression: is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := policy.Parse([]byte(head + tc.rules))
			if err == nil {
				_, err = policy.Compile(doc, registry.MustNew())
			}
			if err == nil {
				t.Fatal("compiled")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

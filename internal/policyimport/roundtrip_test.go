package policyimport

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
)

// imported converts in with tool, checks that signet policy lint accepts
// the result, and compiles it for images in the test registry host.
func imported(t *testing.T, tool, host string, in string, edit ...func(*policy.Document)) (*policy.Engine, *Result) {
	t.Helper()
	res, err := Import(tool, []Input{{Name: "in.yaml", Data: []byte(in)}})
	if err != nil {
		t.Fatal(err)
	}
	if r := policy.Lint(res.Policy); !r.Valid() {
		t.Fatalf("lint: %v\n%s", r.Errors, res.Policy)
	}
	doc, err := policy.Parse(res.Policy)
	if err != nil {
		t.Fatal(err)
	}
	doc.InsecureRegistries = []string{host}
	for _, e := range edit {
		e(doc)
	}
	eng, err := policy.Compile(doc, registry.MustNew())
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Policy)
	}
	return eng, res
}

// TestConnaisseurRoundTrip: images signed with real cosign signatures in
// a registry, decided by the imported policy as Connaisseur decides them.
func TestConnaisseurRoundTrip(t *testing.T) {
	t.Parallel()
	a, b := testutil.NewKey(t), testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	h := reg.Host
	both := reg.PushImage(t, "acme/app:both")
	testutil.SignLegacy(t, both, a)
	testutil.SignLegacy(t, both, b)
	onlyA := reg.PushImage(t, "acme/app:a")
	testutil.SignLegacy(t, onlyA, a)
	reg.PushImage(t, "acme/app:unsigned")
	tool := reg.PushImage(t, "tools/cli:v1")
	testutil.SignLegacy(t, tool, b)
	reg.PushImage(t, "tools/cli:debug-1")
	reg.PushImage(t, "vendor/lib:v1")

	values := `application:
  validators:
  - name: default
    type: cosign
    trustRoots:
    - name: a
      key: |
        ` + testutil.Indent(a.PEM, 8) + `
    - name: b
      key: |
        ` + testutil.Indent(b.PEM, 8) + `
  - {name: allow, type: static, approve: true}
  - {name: deny, type: static, approve: false}
  policy:
  - pattern: "*:*"
    validator: deny
  - pattern: "` + h + `/acme/*:*"
    with: {trustRoot: "*"}
  - pattern: "` + h + `/tools/*:*"
    with: {trustRoot: b, mode: insecureValidateOnly}
  - pattern: "` + h + `/tools/cli:debug-*"
    validator: deny
  - pattern: "` + h + `/vendor/*"
    validator: allow
`
	eng, res := imported(t, "connaisseur", h, values)
	for _, tc := range []struct {
		image   string
		allowed bool // by Connaisseur
		pinned  bool
	}{
		{h + "/acme/app:both", true, true},       // "*": every trust root must sign
		{h + "/acme/app:a", false, false},        // only one of two
		{h + "/acme/app:unsigned", false, false}, // unsigned
		{h + "/acme/app@" + both.DigestStr(), true, true},
		{h + "/tools/cli:v1", true, false},       // insecureValidateOnly: not mutated
		{h + "/tools/cli:debug-1", false, false}, // the more specific deny rule
		{h + "/vendor/lib:v1", true, false},      // static allow
		{"docker.io/library/nginx:1.25", false, false},
	} {
		d := eng.Evaluate(context.Background(), tc.image)
		if d.Allowed != tc.allowed {
			t.Errorf("%s: allowed=%v, Connaisseur: %v (%s)\n%s", tc.image, d.Allowed, tc.allowed, d.Reason, res.Policy)
		}
		if pinned := d.Mutate && d.Pinned != ""; tc.allowed && !strings.Contains(tc.image, "@") && pinned != tc.pinned {
			t.Errorf("%s: pinned %q, want pinned=%v", tc.image, d.Pinned, tc.pinned)
		}
	}
}

// TestPolicyControllerRoundTrip: several ClusterImagePolicies; an image
// must pass every policy that matches it, and a policy passes when any of
// its authorities does.
func TestPolicyControllerRoundTrip(t *testing.T) {
	t.Parallel()
	a, b, c := testutil.NewKey(t), testutil.NewKey(t), testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	h := reg.Host
	sign := func(repoTag string, keys ...*testutil.Key) {
		d := reg.PushImage(t, repoTag)
		for _, k := range keys {
			testutil.SignLegacy(t, d, k)
		}
	}
	sign("app/web:ab", a, b)
	sign("app/web:a", a)
	sign("app/web:c", c)
	sign("app/web:bc", b, c)
	sign("other/x:b", b)
	sign("other/x:c", c)
	sign("system/pause:none")
	sign("warned/x:none")

	key := func(k *testutil.Key) string {
		return "    key:\n      data: |\n        " + testutil.Indent(k.PEM, 8) + "\n"
	}
	cips := `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: app}
spec:
  images: [{glob: "` + h + `/app/**"}]
  authorities:
  - name: a
` + key(a) + `  - name: c
` + key(c) + `---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: everything}
spec:
  images: [{glob: "` + h + `/**"}]
  authorities:
  - name: b
` + key(b) + `---
apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: system}
spec:
  images: [{glob: "` + h + `/system/*"}]
  authorities: [{static: {action: pass}}]
---
apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: warned}
spec:
  mode: warn
  images: [{glob: "` + h + `/warned/*"}]
  authorities: [{static: {action: fail}}]
`
	eng, res := imported(t, "policy-controller", h, cips)
	for _, tc := range []struct {
		image   string
		allowed bool // by policy-controller
	}{
		{h + "/app/web:ab", true},         // app (a) and everything (b)
		{h + "/app/web:bc", true},         // app (c) and everything (b)
		{h + "/app/web:a", false},         // everything fails
		{h + "/app/web:c", false},         // everything fails
		{h + "/other/x:b", true},          // everything alone
		{h + "/other/x:c", false},         // everything fails
		{h + "/system/pause:none", false}, // system passes, everything fails
		{h + "/warned/x:none", false},     // everything (enforce) fails; warned would only warn
		{"ghcr.io/unmatched/x:v1", false}, // no policy: no-match-policy deny
	} {
		d := eng.Evaluate(context.Background(), tc.image)
		if d.Allowed != tc.allowed {
			t.Errorf("%s: allowed=%v, policy-controller: %v (%s)\n%s", tc.image, d.Allowed, tc.allowed, d.Reason, res.Policy)
		}
	}
}

// TestExamplesLint: the example inputs convert into policies signet
// policy lint accepts.
func TestExamplesLint(t *testing.T) {
	t.Parallel()
	for tool, file := range map[string]string{
		"connaisseur":       "testdata/connaisseur-values.yaml",
		"policy-controller": "testdata/policy-controller.yaml",
	} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Import(tool, []Input{{Name: file, Data: data}})
		if err != nil {
			t.Fatal(err)
		}
		if r := policy.Lint(res.Policy); !r.Valid() {
			t.Errorf("%s: %v\n%s", file, r.Errors, res.Policy)
		}
		if len(res.Notes) == 0 {
			t.Errorf("%s: no notes", file)
		}
	}
}

// TestKeylessRoundTrip: keyless identities, exact and regular
// expressions, from both tools, against real keyless signatures of an
// in-memory Sigstore (whose trusted root replaces the public-good one the
// converters name).
func TestKeylessRoundTrip(t *testing.T) {
	t.Parallel()
	ss, err := fixture.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	trJSON, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	const issuer = "https://issuer.example.test"
	reg := testutil.NewRegistry(t, false)
	h := reg.Host
	for tag, id := range map[string]string{"alice": "alice@example.test", "bob": "bob@example.test", "carol": "carol@example.test"} {
		d := reg.PushImage(t, "team/app:"+tag)
		iss := issuer
		if tag == "carol" {
			iss = "https://other.example.test"
		}
		if err := ss.SignLegacyKeyless(d, id, iss, fixture.KeylessOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	useRoot := func(doc *policy.Document) {
		for i := range doc.Validators {
			if doc.Validators[i].TUF != nil {
				doc.Validators[i].TUF, doc.Validators[i].TrustedRoot = nil, string(trJSON)
			}
		}
	}
	inputs := map[string]string{
		"connaisseur": `application:
  validators:
  - name: default
    type: cosign
    trustRoots:
    - name: team
      keyless: {issuer: "` + issuer + `", subjectRegex: "^(alice|carol)@example\\.test$"}
  policy:
  - pattern: "` + h + `/team/*:*"
    with: {verifySCT: false}
`,
		"policy-controller": `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: team}
spec:
  images: [{glob: "` + h + `/team/**"}]
  authorities:
  - keyless:
      insecureIgnoreSCT: true
      identities:
      - {issuer: "` + issuer + `", subjectRegExp: "^(alice|carol)@example\\.test$"}
`,
	}
	for tool, in := range inputs {
		eng, res := imported(t, tool, h, in, useRoot)
		for tag, want := range map[string]bool{"alice": true, "bob": false, "carol": false} {
			d := eng.Evaluate(context.Background(), h+"/team/app:"+tag)
			if d.Allowed != want {
				t.Errorf("%s: %s: allowed=%v, want %v (%s)\n%s", tool, tag, d.Allowed, want, d.Reason, res.Policy)
			}
		}
	}
}

// TestAttestationRoundTrip: a policy-controller authority's attestation
// requirement without a policy holds in signet as there: an image needs
// the signature and an attestation of the type, both by the key; one with
// a CUE policy denies until it is rewritten in CEL.
func TestAttestationRoundTrip(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	h := reg.Host
	const slsa1 = "https://slsa.dev/provenance/v1"
	attested := reg.PushImage(t, "app/x:attested")
	testutil.SignLegacy(t, attested, key)
	testutil.AppendAttestation(t, attested, key, testutil.StatementOf(slsa1, map[string]any{"buildDefinition": map[string]any{"buildType": "b"}}, attested), slsa1)
	signed := reg.PushImage(t, "app/x:signed")
	testutil.SignLegacy(t, signed, key)
	cip := func(policy string) string {
		return `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: p}
spec:
  images: [{glob: "` + h + `/app/**"}]
  authorities:
  - name: release
    key:
      data: |
        ` + testutil.Indent(key.PEM, 8) + `
    attestations:
    - name: provenance
      predicateType: ` + slsa1 + policy + "\n"
	}
	for _, tc := range []struct {
		name, policy string
		// want is policy-controller's decision, but for a CUE policy not
		// yet rewritten, which denies (the placeholder condition).
		want map[string]bool
	}{
		{"no policy", "", map[string]bool{"attested": true, "signed": false}},
		{"cue policy", "\n      policy: {type: cue, data: 'predicateType: \"" + slsa1 + "\"'}", map[string]bool{"attested": false, "signed": false}},
	} {
		eng, res := imported(t, "policy-controller", h, cip(tc.policy))
		for tag, want := range tc.want {
			d := eng.Evaluate(context.Background(), h+"/app/x:"+tag)
			if d.Allowed != want {
				t.Errorf("%s: %s: allowed=%v, want %v (%s)\n%s", tc.name, tag, d.Allowed, want, d.Reason, res.Policy)
			}
		}
	}
}

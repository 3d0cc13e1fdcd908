package policyimport

import (
	"slices"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/testutil"
)

// importKyverno converts files and checks that the result lints; it
// returns the policy read back and the notes.
func importKyverno(t *testing.T, files ...string) (*policy.Document, []Note, string) {
	t.Helper()
	var in []Input
	for i, f := range files {
		in = append(in, Input{Name: "in" + string(rune('0'+i)) + ".yaml", Data: []byte(f)})
	}
	res, err := Import("kyverno", in)
	if err != nil {
		t.Fatal(err)
	}
	if r := policy.Lint(res.Policy); !r.Valid() {
		t.Fatalf("output does not lint: %v\n%s", r.Errors, res.Policy)
	}
	doc, err := policy.Parse(res.Policy)
	if err != nil {
		t.Fatal(err)
	}
	return doc, res.Notes, string(res.Policy)
}

// kyPolicyYAML is a ClusterPolicy with one verifyImages entry, its body
// indented under "- ".
func kyPolicyYAML(action, entry string) string {
	a := ""
	if action != "" {
		a = "  validationFailureAction: " + action + "\n"
	}
	return `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: verify
spec:
` + a + `  rules:
  - name: images
    match:
      any:
      - resources: {kinds: [Pod]}
    verifyImages:
    - ` + strings.ReplaceAll(strings.TrimSpace(entry), "\n", "\n      ") + "\n"
}

func keyEntry(pem string) string {
	return "keys:\n      publicKeys: |-\n        " + testutil.Indent(pem, 8)
}

func rule(t *testing.T, doc *policy.Document, pattern string) policy.Rule {
	t.Helper()
	for _, r := range doc.Rules {
		if r.Pattern == pattern {
			return r
		}
	}
	t.Fatalf("no rule %q in %+v", pattern, doc.Rules)
	return policy.Rule{}
}

func validator(t *testing.T, doc *policy.Document, name string) policy.Validator {
	t.Helper()
	for _, v := range doc.Validators {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no validator %q", name)
	return policy.Validator{}
}

func hasNote(notes []Note, sub string) bool {
	return slices.ContainsFunc(notes, func(n Note) bool { return strings.Contains(n.Message, sub) })
}

func TestKyvernoAttestorCounts(t *testing.T) {
	t.Parallel()
	a, b, c := testutil.NewKey(t).PEM, testutil.NewKey(t).PEM, testutil.NewKey(t).PEM
	set := func(count string, pems ...string) string {
		s := "- "
		if count != "" {
			s += "count: " + count + "\n  "
		}
		s += "entries:"
		for _, p := range pems {
			s += "\n  - keys:\n      publicKeys: |-\n        " + testutil.Indent(p, 8)
		}
		return s
	}
	attestors := func(sets ...string) string {
		return "imageReferences: [\"ghcr.io/acme/*\"]\nattestors:\n" + strings.Join(sets, "\n")
	}
	for _, c := range []struct {
		name      string
		entry     string
		roots     int
		trustRoot string
		threshold int
		required  int
	}{
		{"one key", attestors(set("", a)), 1, "", 0, 0},
		{"any of two", attestors(set("1", a, b)), 2, "*", 1, 0},
		{"all of two", attestors(set("", a, b)), 2, "*", 2, 0},
		{"two of three", attestors(set("2", a, b, c)), 3, "*", 2, 0},
		{"two sets, each required", attestors(set("", a), set("", b)), 2, "*", 2, 0},
		{"a required set and one of two", attestors(set("1", a, b), set("", c)), 3, "*", 2, 1},
		{"one PEM block holding two keys", "imageReferences: [\"ghcr.io/acme/*\"]\nattestors:\n- entries:\n  - keys:\n      publicKeys: |-\n        " + testutil.Indent(strings.TrimSpace(a)+"\n"+strings.TrimSpace(b), 8), 2, "*", 2, 0},
		{"the same key in two sets", attestors(set("", a), set("", a)), 1, "", 0, 0},
		{"two sets of one of two, sharing a key", attestors(set("1", a, b), set("1", b, c)), 2, "*", 2, 0}, // b and c: stricter, noted
	} {
		t.Run(c.name, func(t *testing.T) {
			doc, _, out := importKyverno(t, kyPolicyYAML("Enforce", c.entry))
			r := rule(t, doc, "ghcr.io/acme/**")
			v := validator(t, doc, r.Validator)
			if len(v.TrustRoots) != c.roots || r.With.TrustRoot != c.trustRoot || len(r.With.Required) != c.required {
				t.Fatalf("roots %d trustRoot %q required %v, want %d %q %d\n%s", len(v.TrustRoots), r.With.TrustRoot, r.With.Required, c.roots, c.trustRoot, c.required, out)
			}
			if got := 0; r.With.Threshold != nil && *r.With.Threshold != c.threshold || r.With.Threshold == nil && c.threshold != got {
				t.Fatalf("threshold %v, want %d\n%s", r.With.Threshold, c.threshold, out)
			}
		})
	}
}

func TestKyvernoKeySources(t *testing.T) {
	t.Parallel()
	entry := `imageReferences: ["ghcr.io/acme/*"]
attestors:
- count: 1
  entries:
  - keys:
      secret: {name: cosign-pub, namespace: security}
  - keys:
      kms: awskms:///arn:aws:kms:us-east-1:123456789012:key/abc
  - keys:
      publicKeys: k8s://other/key
  - keyless:
      issuer: https://token.actions.githubusercontent.com
      subjectRegExp: '^https://github\.com/acme/.*$'
      rekor: {url: https://rekor.sigstore.dev}
      ctlog: {ignoreSCT: true}`
	doc, notes, out := importKyverno(t, kyPolicyYAML("Enforce", entry))
	r := rule(t, doc, "ghcr.io/acme/**")
	v := validator(t, doc, r.Validator)
	var keys []string
	for _, tr := range v.TrustRoots {
		if tr.Keyless != nil {
			keys = append(keys, "keyless "+tr.Keyless.Issuer+" "+tr.Keyless.SubjectRegex)
		} else {
			keys = append(keys, tr.Key)
		}
	}
	want := []string{"k8s://security/cosign-pub", "awskms:///arn:aws:kms:us-east-1:123456789012:key/abc", "k8s://other/key", `keyless https://token.actions.githubusercontent.com ^https://github\.com/acme/.*$`}
	if !slices.Equal(keys, want) || v.TUF == nil || r.With.VerifySCT == nil || *r.With.VerifySCT {
		t.Fatalf("got %q (tuf %v, verifySCT %v), want %q\n%s", keys, v.TUF, r.With.VerifySCT, want, out)
	}
	if !hasNote(notes, "Rekor entry for key signatures") {
		t.Errorf("no note on Kyverno's Rekor check of key signatures: %v", notes)
	}
}

func TestKyvernoNotary(t *testing.T) {
	t.Parallel()
	cert, _, err := fixture.ServingCert("notary.example")
	if err != nil {
		t.Fatal(err)
	}
	entry := `type: Notary
imageReferences: ["registry.example.com/team/*"]
attestors:
- entries:
  - certificates:
      cert: |-
        ` + testutil.Indent(string(cert), 8)
	doc, _, out := importKyverno(t, kyPolicyYAML("Enforce", entry))
	r := rule(t, doc, "registry.example.com/team/**")
	v := validator(t, doc, r.Validator)
	if v.Type != policy.TypeNotation || len(v.TrustRoots) != 1 || !strings.Contains(v.TrustRoots[0].Cert, "BEGIN CERTIFICATE") {
		t.Fatalf("not a notation validator with the certificate:\n%s", out)
	}
}

func TestKyvernoOptions(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t).PEM
	base := "imageReferences: [\"ghcr.io/acme/*\"]\nattestors:\n- entries:\n  - " + keyEntry(key)
	t.Run("audit by default", func(t *testing.T) {
		doc, notes, _ := importKyverno(t, kyPolicyYAML("", base))
		if doc.Mode != policy.ModeAudit || !hasNote(notes, "default is Audit") {
			t.Fatalf("mode %q, notes %v", doc.Mode, notes)
		}
	})
	t.Run("enforce", func(t *testing.T) {
		doc, _, _ := importKyverno(t, kyPolicyYAML("Enforce", base))
		if doc.Mode != "" {
			t.Fatalf("mode %q", doc.Mode)
		}
	})
	t.Run("rule failureAction over the policy's", func(t *testing.T) {
		doc, _, _ := importKyverno(t, kyPolicyYAML("Enforce", "failureAction: Audit\n"+base))
		if doc.Mode != policy.ModeAudit {
			t.Fatalf("mode %q", doc.Mode)
		}
	})
	t.Run("mutateDigest false", func(t *testing.T) {
		doc, notes, _ := importKyverno(t, kyPolicyYAML("Enforce", "mutateDigest: false\n"+base))
		r := rule(t, doc, "ghcr.io/acme/**")
		if r.With.Mutate == nil || *r.With.Mutate || !hasNote(notes, "verifyDigest") {
			t.Fatalf("mutate %v, notes %v", r.With.Mutate, notes)
		}
	})
	t.Run("credentials", func(t *testing.T) {
		doc, notes, _ := importKyverno(t, kyPolicyYAML("Enforce", "imageRegistryCredentials: {secrets: [regcred], providers: [amazon]}\n"+base))
		v := validator(t, doc, rule(t, doc, "ghcr.io/acme/**").Validator)
		if v.Auth == nil || v.Auth.SecretName != "regcred" || !hasNote(notes, "signet's namespace") {
			t.Fatalf("auth %+v, notes %v", v.Auth, notes)
		}
	})
	t.Run("credentials with a wildcard registry", func(t *testing.T) {
		doc, notes, _ := importKyverno(t, kyPolicyYAML("Enforce", "imageRegistryCredentials: {secrets: [regcred]}\n"+strings.Replace(base, "ghcr.io/acme/*", "*", 1)))
		if v := validator(t, doc, rule(t, doc, "**").Validator); v.Auth != nil || !hasNote(notes, "auth.registries") {
			t.Fatalf("auth %+v, notes %v", v.Auth, notes)
		}
	})
	t.Run("namespaced Policy", func(t *testing.T) {
		p := strings.Replace(kyPolicyYAML("Enforce", base), "kind: ClusterPolicy\nmetadata:\n  name: verify", "kind: Policy\nmetadata:\n  name: verify\n  namespace: team-a", 1)
		_, notes, _ := importKyverno(t, p)
		if !hasNote(notes, "ImagePolicy there (kind: ImagePolicy, metadata.namespace: team-a") {
			t.Fatalf("notes %v", notes)
		}
	})
	t.Run("certificates are denied", func(t *testing.T) {
		doc, notes, _ := importKyverno(t, kyPolicyYAML("Enforce", "imageReferences: [\"ghcr.io/acme/*\"]\nattestors:\n- entries:\n  - certificates: {cert: x}"))
		if r := rule(t, doc, "ghcr.io/acme/**"); r.Validator != "deny" || !hasNote(notes, "not certificates") {
			t.Fatalf("rule %+v, notes %v", r, notes)
		}
	})
	t.Run("no attestors", func(t *testing.T) {
		doc, notes, _ := importKyverno(t, kyPolicyYAML("Enforce", "imageReferences: [\"ghcr.io/acme/*\"]\nmutateDigest: true"))
		if r := rule(t, doc, "ghcr.io/acme/**"); r.Validator != "allow" || !hasNote(notes, "checks no signature") {
			t.Fatalf("rule %+v, notes %v", r, notes)
		}
	})
}

func TestKyvernoAttestationConditions(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t).PEM
	entry := `imageReferences: ["ghcr.io/acme/*"]
attestors:
- entries:
  - ` + keyEntry(key) + `
attestations:
- predicateType: https://slsa.dev/provenance/v1
  attestors:
  - entries:
    - ` + strings.ReplaceAll(keyEntry(key), "\n", "\n  ") + `
  conditions:
  - all:
    - key: "{{ buildDefinition.buildType }}"
      operator: Equals
      value: https://actions.github.io/buildtypes/workflow/v1
      message: built by GitHub Actions
    - key: "{{ runDetails.builder.id }}"
      operator: Equals
      value: "https://github.com/*"
  - any:
    - key: "{{ reviewed }}"
      operator: Equals
      value: true
    - key: "{{ approvals }}"
      operator: NotEquals
      value: 0`
	doc, notes, out := importKyverno(t, kyPolicyYAML("Enforce", entry))
	r := rule(t, doc, "ghcr.io/acme/**")
	if len(r.With.Attestations) != 1 {
		t.Fatalf("attestations %+v\n%s", r.With.Attestations, out)
	}
	a := r.With.Attestations[0]
	var exprs []string
	for _, c := range a.Conditions {
		exprs = append(exprs, c.Expression)
	}
	want := []string{
		`predicate["buildDefinition"]["buildType"] == "https://actions.github.io/buildtypes/workflow/v1"`,
		`(predicate["reviewed"] == true) || (predicate["approvals"] != 0)`,
	}
	if a.Type != "https://slsa.dev/provenance/v1" || !slices.Equal(exprs, want) || a.Conditions[0].Message != "built by GitHub Actions" {
		t.Fatalf("got %q\n%s", exprs, out)
	}
	if !hasNote(notes, `"https://github.com/*"`) {
		t.Errorf("the wildcard condition is not quoted in a note: %v", notes)
	}
}

func TestKyvernoOverlappingRules(t *testing.T) {
	t.Parallel()
	a, b := testutil.NewKey(t).PEM, testutil.NewKey(t).PEM
	broad := kyPolicyYAML("Enforce", "imageReferences: [\"ghcr.io/*\"]\nattestors:\n- entries:\n  - "+keyEntry(a))
	narrow := strings.Replace(kyPolicyYAML("Enforce", "imageReferences: [\"ghcr.io/acme/*\"]\nskipImageReferences: [\"ghcr.io/acme/tools/*\"]\nattestors:\n- entries:\n  - "+keyEntry(b)), "name: verify", "name: team", 1)
	doc, _, out := importKyverno(t, broad, narrow)
	acme := rule(t, doc, "ghcr.io/acme/**")
	if v := validator(t, doc, acme.Validator); len(v.TrustRoots) != 2 || acme.With.Threshold == nil || *acme.With.Threshold != 2 {
		t.Fatalf("ghcr.io/acme/** must need both keys:\n%s", out)
	}
	// Skipped by the narrow rule, still under the broad one.
	tools := rule(t, doc, "ghcr.io/acme/tools/**")
	if v := validator(t, doc, tools.Validator); len(v.TrustRoots) != 1 || v.TrustRoots[0].Key != validator(t, doc, rule(t, doc, "ghcr.io/**").Validator).TrustRoots[0].Key {
		t.Fatalf("ghcr.io/acme/tools/** must need the broad rule's key only:\n%s", out)
	}
	if rule(t, doc, "**").Validator != "allow" {
		t.Fatalf("no catch-all allow:\n%s", out)
	}
}

func TestKyvernoInputs(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t).PEM
	one := kyPolicyYAML("Enforce", "imageReferences: [\"ghcr.io/one/*\"]\nattestors:\n- entries:\n  - "+keyEntry(key))
	two := strings.ReplaceAll(strings.Replace(one, "name: verify", "name: two", 1), "ghcr.io/one/", "ghcr.io/two/")
	three := strings.ReplaceAll(strings.Replace(one, "name: verify", "name: three", 1), "ghcr.io/one/", "ghcr.io/three/")
	v2 := strings.Replace(strings.ReplaceAll(strings.Replace(one, "name: verify", "name: four", 1), "ghcr.io/one/", "ghcr.io/four/"), "kyverno.io/v1", "kyverno.io/v2beta1", 1)
	list := "apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSpace(three), "\n", "\n  ") + "\n"
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
	doc, notes, out := importKyverno(t, one+"---\n"+cm+"---\n"+two, list, v2)
	for _, p := range []string{"ghcr.io/one/**", "ghcr.io/two/**", "ghcr.io/three/**", "ghcr.io/four/**"} {
		rule(t, doc, p)
	}
	if !hasNote(notes, "ConfigMap is not a Kyverno ClusterPolicy") {
		t.Errorf("no note on the skipped ConfigMap: %v\n%s", notes, out)
	}
	for _, c := range []struct{ name, in, want string }{
		{"not YAML", "a: [", "document 1"},
		{"no policy", cm, "no Kyverno ClusterPolicy or Policy"},
	} {
		if _, err := Import("kyverno", []Input{{Name: "x.yaml", Data: []byte(c.in)}}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
}

package policy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
)

// TestKinds: a file may say kind ImagePolicy (as always) or
// ClusterImagePolicy; both are the cluster policy, parse alike and lint
// without a word; any other kind is an error naming both.
func TestKinds(t *testing.T) {
	t.Parallel()
	const body = "\nvalidators: [{name: s, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: s}]\n"
	for _, kind := range []string{policy.Kind, policy.KindCluster} {
		data := []byte("apiVersion: signet.dev/v1alpha1\nkind: " + kind + "\nmetadata: {name: p}" + body)
		doc, err := policy.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if _, err := policy.Compile(doc, nil); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
		if r := policy.Lint(data); !r.Valid() || len(r.Notes) > 0 {
			t.Errorf("%s: lint says %+v", kind, r)
		}
	}
	doc, err := policy.Parse([]byte("apiVersion: signet.dev/v1alpha1\nkind: Policy" + body))
	if err != nil {
		t.Fatal(err)
	}
	if _, err = policy.Compile(doc, nil); err == nil || !strings.Contains(err.Error(), `2:7: kind: must be "ImagePolicy" or "ClusterImagePolicy", got "Policy"`) {
		t.Errorf("kind Policy: %v", err)
	}
}

// resource is a ClusterImagePolicy as kubectl get -o yaml prints it, with
// problems in its spec. Lines count from 1 at "apiVersion".
const resource = `apiVersion: signet.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: team
  uid: 0b6f7e1c-2d1a-4f5e-9c3b-1a2b3c4d5e6f
  resourceVersion: "42"
  generation: 3
  labels: {app: signet}
  annotations: {note: x}
  managedFields: [{manager: kubectl}]
spec:
  mode: enforse
  validators:
    - name: keys
      type: cosign
      trustRoots:
        - name: a
          key: k8s://signet/cosign-pub
  rules:
    - pattern: "ghcr.io/**"
      validator: nope
    - pattern: "quay.io/**"
      validator: keys
      with:
        trustroot: a
status:
  observedGeneration: 2
  conditions: [{type: Ready, status: "False"}]
  rules: 2
`

// TestLintResource: signet policy lint takes a resource as the API holds
// it: metadata besides the name and status are ignored, the spec is
// checked as a file's body, and every problem has the field path of the
// resource ("spec.…") and its line and column.
func TestLintResource(t *testing.T) {
	t.Parallel()
	r := policy.Lint([]byte(resource))
	want := []string{
		`12:9: spec.mode: must be "enforce", "warn" or "audit", got "enforse"`,
		`21:18: spec.rules[0].validator: unknown validator "nope"`,
		`25:9: spec.rules[1].with.trustroot: unknown field (did you mean "trustRoot"?)`,
	}
	var got []string
	for _, e := range r.Errors {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(r.Notes) != 1 || r.Notes[0].Field != "spec.validators[0].trustRoots[0].key" || r.Notes[0].Line != 18 {
		t.Errorf("notes: %+v", r.Notes)
	}

	valid := strings.NewReplacer("enforse", "enforce", "nope", "keys", "trustroot", "trustRoot").Replace(resource)
	if r := policy.Lint([]byte(valid)); !r.Valid() {
		t.Errorf("valid resource: %+v", r.Errors)
	}
	// A namespaced ImagePolicy, as JSON (kubectl get -o json).
	ns := `{"apiVersion": "signet.dev/v1alpha1", "kind": "ImagePolicy", "metadata": {"name": "a", "namespace": "team-a"},
	"spec": {"validators": [{"name": "s", "type": "static", "approve": true}], "rules": [{"pattern": "**", "validator": "s", "extra": 1}]}}`
	if r := policy.Lint([]byte(ns)); len(r.Errors) != 1 || r.Errors[0].Field != "spec.rules[0].extra" {
		t.Errorf("namespaced ImagePolicy: %+v", r.Errors)
	}
	for _, tc := range []struct{ doc, want string }{
		{"apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: [a]\nspec: {}\n", "3:1: metadata: expected an object, got a list"},
		{"apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\nspec: []\n", "3:1: spec: expected an object, got a list"},
		{"apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\nspec: {rules: []}\nrules: []\n", "4:1: rules: unknown field"},
	} {
		r := policy.Lint([]byte(tc.doc))
		if !slices.ContainsFunc(r.Errors, func(e policy.FieldError) bool { return e.Error() == tc.want }) {
			t.Errorf("%q: %+v, want %s", tc.doc, r.Errors, tc.want)
		}
	}
}

// TestParseRefusesResource: signet serve and signet verify read a file's
// form only; a resource gets an error saying where its fields belong.
func TestParseRefusesResource(t *testing.T) {
	t.Parallel()
	_, err := policy.Parse([]byte(resource))
	if err == nil || !strings.Contains(err.Error(), "11:1: spec: a policy file holds the spec's fields") {
		t.Errorf("Parse(resource): %v", err)
	}
}

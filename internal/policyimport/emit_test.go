package policyimport

import (
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
)

func TestEmitCommentsAndLint(t *testing.T) {
	doc := &policy.Document{APIVersion: policy.APIVersion, Kind: policy.Kind}
	doc.Metadata.Name = "imported"
	doc.Validators = []policy.Validator{{Name: "allow", Type: policy.TypeStatic, Approve: new(true)}}
	doc.Rules = []policy.Rule{{Pattern: "docker.io/library/*:*", Validator: "allow"}}
	notes := []Note{
		{Path: "rules.0", Source: "in.yaml: policy[0]", Message: "a note on the rule"},
		{Path: "validators.0.approve", Message: "a note on a field"},
		{Path: "nowhere.3", Message: "a note on the document"},
	}
	out, err := Emit(doc, notes)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		"# NOTE: a note on the document\napiVersion:",
		"# NOTE: in.yaml: policy[0]: a note on the rule\n  - pattern:",
		"# NOTE: a note on a field\n    approve: true",
		"apiVersion: signet.dev/v1alpha1\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if r := policy.Lint(out); !r.Valid() {
		t.Fatalf("emitted policy does not lint: %v\n%s", r.Errors, s)
	}
}

// TestEmitQuotesYAML11: strings YAML 1.1 (policy.Parse's reader) would
// read as something else are quoted.
func TestEmitQuotesYAML11(t *testing.T) {
	for _, name := range []string{"Y", "n", "on", "OFF", "yes", "0777", "1_000", "1:20", "0b101", "~", ".5", "+1"} {
		doc := &policy.Document{APIVersion: policy.APIVersion, Kind: policy.Kind}
		doc.Validators = []policy.Validator{{Name: name, Type: policy.TypeStatic, Approve: new(true)}}
		doc.Rules = []policy.Rule{{Pattern: "**", Validator: name}}
		out, err := Emit(doc, nil)
		if err != nil {
			t.Fatal(err)
		}
		back, err := policy.Parse(out)
		if err != nil {
			t.Errorf("%q: %v\n%s", name, err, out)
			continue
		}
		if back.Validators[0].Name != name {
			t.Errorf("%q read back as %q", name, back.Validators[0].Name)
		}
	}
}

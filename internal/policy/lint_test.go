package policy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
)

// lintPolicy has a type error, an unknown field, semantic errors in other
// places, and a Secret and a k8s:// key only a cluster can check. Lines
// are counted from 1 at "apiVersion".
const lintPolicy = `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
mode: enforse
validators:
  - name: keys
    type: cosign
    auth:
      secretName: regcreds
    trustRoots:
      - name: a
        key: k8s://signet/cosign-pub
      - name: b
        key: k8s://signet/other
  - name: allow
    type: static
    approve: "yes"
rules:
  - pattern: "ghcr.io/org/**"
    validator: keys
    with:
      trustRoot: "*"
      threshold: "two"
  - pattern: "docker.io/library/*"
    validator: nope
  - pattern: "quay.io/**"
    validator: keys
    with:
      trustroot: a
  - "ghcr.io/**"
`

// TestLint: one run reports the type errors and the semantic errors of the
// rest of the document, each at its YAML line and column, ordered by line;
// nothing under a field of the wrong type is reported twice; what needs
// the cluster is a note.
func TestLint(t *testing.T) {
	t.Parallel()
	r := policy.Lint([]byte(lintPolicy))
	want := []string{
		`3:7: mode: must be "enforce", "warn" or "audit", got "enforse"`,
		`16:14: validators[1].approve: expected true or false, got the string "yes"`,
		`22:18: rules[0].with.threshold: expected a whole number, got the string "two"`,
		`24:16: rules[1].validator: unknown validator "nope"`,
		`27:5: rules[2].with.trustRoot: is required: validator "keys" has 2 trust roots`,
		`28:7: rules[2].with.trustroot: unknown field (did you mean "trustRoot"?)`,
		`29:5: rules[3]: expected an object, got the string "ghcr.io/**"`,
	}
	if len(r.Errors) != len(want) || r.Valid() {
		t.Errorf("%d errors, want %d:\n%s", len(r.Errors), len(want), lines(r.Errors))
	}
	for i, w := range want {
		if i < len(r.Errors) && !strings.HasPrefix(r.Errors[i].Error(), w) {
			t.Errorf("error %d = %q, want %q…", i, r.Errors[i].Error(), w)
		}
	}
	wantNotes := []string{
		`8:19: validators[0].auth.secretName: Secret "regcreds": only its name is checked here`,
		`11:14: validators[0].trustRoots[0].key: k8s://signet/cosign-pub: only its syntax is checked here`,
		`13:14: validators[0].trustRoots[1].key: k8s://signet/other: only its syntax is checked here`,
	}
	if len(r.Notes) != len(wantNotes) {
		t.Errorf("%d notes, want %d:\n%s", len(r.Notes), len(wantNotes), lines(r.Notes))
	}
	for i, w := range wantNotes {
		if i < len(r.Notes) && !strings.HasPrefix(r.Notes[i].Error(), w) {
			t.Errorf("note %d = %q, want %q…", i, r.Notes[i].Error(), w)
		}
	}
}

// TestPositions: every way a field error is located — a scalar value, a
// missing field (its nearest ancestor), an unknown key, a list item, flow
// style, JSON, aliases, keys holding "." — and a YAML syntax error's line.
func TestPositions(t *testing.T) {
	t.Parallel()
	head := "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\n"
	for _, tc := range []struct {
		name, doc string
		want      []string // the located errors, in order
	}{
		{"missing field at its parent", head + "validators:\n  - type: static\n    approve: true\nrules: [{pattern: \"**\", validator: x}]\n",
			[]string{`4:5: validators[0].name: is required`, `6:36: rules[0].validator: unknown validator "x"`}},
		{"flow style", head + "validators: [{name: a, type: static, approve: true}]\nrules: [{pattern: \"a//b\", validator: a}, {pattern: 7, validator: a}]\n",
			[]string{`4:19: rules[0].pattern: path components must not be empty`, `4:52: rules[1].pattern: expected a string, got the number 7`}},
		{"json", `{"apiVersion": "signet.dev/v1alpha1", "kind": "ImagePolicy",
 "validators": [{"name": "a", "type": "static", "approve": 1}],
 "rules": [{"pattern": "**", "validator": "a"}]}`,
			[]string{`2:60: validators[0].approve: expected true or false, got the number 1`}},
		{"unknown key holding a dot", head + "validators: [{name: a, type: static, approve: true}]\nrules:\n  - pattern: \"**\"\n    validator: a\n    with.mode: warn\n",
			[]string{`7:5: rules[0].with.mode: unknown field`}},
		{"alias", head + "validators:\n  - &v {name: a, type: static, approve: true}\n  - *v\nrules: [{pattern: \"**\", validator: a}]\n",
			[]string{`5:5: validators[1].name: duplicate validator name "a"`}},
		{"nested list", head + "validators:\n  - name: a\n    type: cosign\n    trustRoots:\n      - name: k\n        key: \"not a pem\"\nrules: [{pattern: \"**\", validator: a}]\n",
			[]string{`8:14: validators[0].trustRoots[0].key: parsing PEM public key`}},
		{"syntax error", head + "validators: [\n  {name: a\nrules: x\n", []string{`4: not valid YAML: yaml: line 4:`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := policy.Lint([]byte(tc.doc))
			if len(r.Errors) != len(tc.want) {
				t.Fatalf("%d errors, want %d:\n%s", len(r.Errors), len(tc.want), lines(r.Errors))
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(r.Errors[i].Error(), w) {
					t.Errorf("error %d = %q, want %q…", i, r.Errors[i].Error(), w)
				}
			}
		})
	}
}

// TestLoadCompilePositions: signet verify and signet serve (Load or Parse,
// then Compile) report the same line and column as lint, and a type error
// does not hide the other errors from them either.
func TestLoadCompilePositions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	shape := filepath.Join(dir, "shape.yaml")
	os.WriteFile(shape, []byte(lintPolicy), 0o600)
	_, err := policy.Load(shape)
	for _, w := range []string{"invalid policy " + shape + ":\n  3:7: mode: must be", "\n  16:14: validators[1].approve: expected true or false",
		"\n  24:16: rules[1].validator: unknown validator", "\n  29:5: rules[3]: expected an object"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Load: %v\nwant %q", err, w)
		}
	}
	meaning := strings.NewReplacer(`"yes"`, "true", `"two"`, "2", "      trustroot: a\n", "      trustRoot: a\n", "  - \"ghcr.io/**\"\n", "").Replace(lintPolicy)
	doc, err := policy.Parse([]byte(meaning))
	if err != nil {
		t.Fatal(err)
	}
	_, err = policy.Compile(doc, registry.MustNew(), policy.WithSecretKeychains(nil))
	for _, w := range []string{"\n  3:7: mode: must be", "\n  24:16: rules[1].validator: unknown validator"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Compile: %v\nwant %q", err, w)
		}
	}
}

func lines(es []policy.FieldError) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintln(&b, "  ", e.Error())
	}
	return b.String()
}

// TestLintManyErrors: a policy as large as allowed, made of nothing but
// unknown fields (one error each), is linted with memory proportional to
// its size — each error located once, through an index of its mapping's
// keys, not by scanning the mapping again.
func TestLintManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nrules:\n  - pattern: \"**\"\n    with:\n")
	for i := 0; b.Len() < policy.MaxDocumentBytes-64; i++ {
		fmt.Fprintf(&b, "      unknown.field.%d: x\n", i)
	}
	data := []byte(b.String())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := policy.Lint(data)
	runtime.ReadMemStats(&after)
	if len(r.Errors) < 100_000 {
		t.Fatalf("%d errors, want one per unknown field", len(r.Errors))
	}
	if last := r.Errors[len(r.Errors)-1]; last.Line == 0 || !strings.Contains(last.Msg, "unknown field") {
		t.Errorf("last error %q is not located", last.Error())
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d bytes, %d errors: %d MiB allocated", len(data), len(r.Errors), alloc>>20)
	if limit := uint64(200 * len(data)); alloc > limit {
		t.Errorf("allocated %d MiB, want at most %d MiB (200 times the document)", alloc>>20, limit>>20)
	}
}

package policyimport

import (
	"os"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
)

// fuzzImport converts arbitrary input: never a panic, and a converted
// policy is always returned as YAML with its notes.
func fuzzImport(f *testing.F, tool, seedFile string) {
	if data, err := os.ReadFile(seedFile); err == nil {
		f.Add(data)
	}
	f.Add([]byte("application: {validators: [{name: x, type: cosign}], policy: [{pattern: '{a,b}[!c]*:*'}]}"))
	f.Add([]byte("kind: ClusterImagePolicy\napiVersion: policy.sigstore.dev/v1beta1\nspec: {images: [{glob: 'inde**'}], authorities: [{static: {action: pass}}]}"))
	f.Add([]byte("kind: List\nitems: [{kind: List, items: []}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Import(tool, []Input{{Name: "fuzz.yaml", Data: data}})
		if err != nil {
			return
		}
		if r := policy.Lint(res.Policy); !r.Valid() {
			t.Fatalf("the converted policy does not lint: %v\n%s", r.Errors, res.Policy)
		}
	})
}

func FuzzImportConnaisseur(f *testing.F) {
	fuzzImport(f, "connaisseur", "testdata/connaisseur-values.yaml")
}

func FuzzImportPolicyController(f *testing.F) {
	fuzzImport(f, "policy-controller", "testdata/policy-controller.yaml")
}

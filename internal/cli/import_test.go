package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportThenLint: signet import … -o writes a policy that signet
// policy lint accepts, lists the notes on stderr and exits 0; an input
// that cannot be read exits 2.
func TestImportThenLint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct{ tool, in string }{
		{"connaisseur", "../policyimport/testdata/connaisseur-values.yaml"},
		{"policy-controller", "../policyimport/testdata/policy-controller.yaml"},
	} {
		out := filepath.Join(dir, tc.tool+".yaml")
		var stdout, stderr bytes.Buffer
		root := newRoot(&stdout, &stderr)
		root.SetArgs([]string{"import", tc.tool, tc.in, "-o", out})
		if err := root.Execute(); err != nil {
			t.Fatalf("%s: %v\n%s", tc.tool, err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "note(s) to review") {
			t.Errorf("%s: stderr lacks the notes: %s", tc.tool, stderr.String())
		}
		stdout.Reset()
		stderr.Reset()
		root = newRoot(&stdout, &stderr)
		root.SetArgs([]string{"policy", "lint", out})
		if err := root.Execute(); err != nil {
			t.Errorf("%s: signet policy lint: %v\n%s%s", tc.tool, err, stdout.String(), stderr.String())
		}
	}
	// Standard input, the policy on stdout.
	var stdout, stderr bytes.Buffer
	root := newRoot(&stdout, &stderr)
	root.SetIn(strings.NewReader("apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: p}\nspec: {images: [{glob: '**'}], authorities: [{static: {action: pass}}]}\n"))
	root.SetArgs([]string{"import", "policy-controller", "-"})
	if err := root.Execute(); err != nil || !strings.Contains(stdout.String(), "pattern: '**'") {
		t.Errorf("stdin: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("kind: Deployment\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"import", "policy-controller", bad},
		{"import", "connaisseur", bad},
		{"import", "connaisseur", filepath.Join(dir, "missing.yaml")},
	} {
		var stdout, stderr bytes.Buffer
		root := newRoot(&stdout, &stderr)
		root.SetArgs(args)
		err := root.Execute()
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != ExitUsage {
			t.Errorf("%v: %v, want exit %d", args, err, ExitUsage)
		}
	}
}

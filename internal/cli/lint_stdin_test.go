package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestPolicyLintStdin: signet policy lint - reads stdin, and takes a
// ClusterImagePolicy resource as kubectl get -o yaml prints it, its
// problems located in it with the resource's field paths.
func TestPolicyLintStdin(t *testing.T) {
	t.Parallel()
	const resource = "apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {name: p, uid: x, generation: 2}\nspec:\n" +
		"  validators: [{name: s, type: static, approve: true}]\n  rules: [{pattern: \"**\", validator: %s}]\nstatus: {rules: 1}\n"
	for _, tc := range []struct {
		validator string
		code      int
		out       string
	}{
		{"s", 0, "-: valid\n"},
		{"t", 2, `-:6:38: spec.rules[0].validator: unknown validator "t"`},
	} {
		var stdout, stderr bytes.Buffer
		root := newRoot(&stdout, &stderr)
		root.SetIn(strings.NewReader(strings.Replace(resource, "%s", tc.validator, 1)))
		root.SetArgs([]string{"policy", "lint", "-"})
		err := root.Execute()
		if (err == nil) != (tc.code == 0) || !strings.Contains(stdout.String()+stderr.String(), tc.out) {
			t.Errorf("validator %s: %v\nstdout: %s\nstderr: %s\nwant %q", tc.validator, err, stdout.String(), stderr.String(), tc.out)
		}
	}
}

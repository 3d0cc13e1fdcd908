package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/signet-dev/signet/internal/policy"
)

func newPolicy(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Work with policy files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("policy needs a subcommand: lint")
		},
	}
	cmd.AddCommand(newPolicyLint(stdout, stderr))
	return cmd
}

func newPolicyLint(stdout, stderr io.Writer) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "lint [--output text|json] FILE|-",
		Short: "Check a policy offline and print every error, with its line and column",
		Long: `lint loads and compiles a policy as signet serve would, without the network
or a cluster, and prints every error at once, each with its field path and
its YAML line and column. What only a cluster can check (that a validator's
auth.secretName Secret or a k8s:// key exists) is checked by its syntax, with
a note. FILE "-" reads the policy from stdin.

The policy is a policy file (kind ImagePolicy or ClusterImagePolicy, the
fields at the top level) or a ClusterImagePolicy or ImagePolicy resource as
the cluster holds it (kubectl get -o yaml: metadata, spec, status): its spec
is checked, and the field paths begin with "spec.".

Errors and notes go to stderr; with --output json the report is printed as
JSON on stdout too.

Exit codes: 0 valid; 2 invalid, unreadable, or usage error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLint(args[0], output, cmd.InOrStdin(), stdout, stderr)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// lintReport is the JSON shape of signet policy lint.
type lintReport struct {
	File  string `json:"file"`
	Valid bool   `json:"valid"`
	policy.LintReport
}

func runLint(path, output string, stdin io.Reader, stdout, stderr io.Writer) error {
	if output != "text" && output != "json" {
		return usageError("--output must be text or json, got %q", output)
	}
	var r policy.LintReport
	var err error
	if path == "-" {
		r, err = policy.LintReader(stdin)
	} else {
		r, err = policy.LintFile(path)
	}
	if err != nil {
		r.Errors = []policy.FieldError{{Msg: err.Error()}}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(stderr, "%s: note: %s\n", position(path, n), fieldMsg(n))
	}
	for _, e := range r.Errors {
		fmt.Fprintf(stderr, "%s: %s\n", position(path, e), fieldMsg(e))
	}
	if output == "json" {
		if r.Errors == nil {
			r.Errors = []policy.FieldError{}
		}
		if r.Notes == nil {
			r.Notes = []policy.FieldError{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(lintReport{File: path, Valid: r.Valid(), LintReport: r}); err != nil {
			return err
		}
	}
	if !r.Valid() {
		n := "1 error"
		if len(r.Errors) > 1 {
			n = fmt.Sprintf("%d errors", len(r.Errors))
		}
		return usageError("invalid policy %s: %s", path, n)
	}
	if output == "text" {
		fmt.Fprintf(stdout, "%s: valid\n", path)
	}
	return nil
}

// position is "file:line:column", as editors and CI annotations read it.
func position(path string, e policy.FieldError) string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d", path, e.Line, e.Column)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d", path, e.Line)
	}
	return path
}

func fieldMsg(e policy.FieldError) string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policyimport"
)

// maxImportBytes bounds each file signet import reads.
const maxImportBytes = 16 << 20

func newImport(stdout, stderr io.Writer) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "import connaisseur|policy-controller|kyverno FILE... [-o policy.yaml]",
		Short: "Convert another admission controller's image policies into a signet policy",
		Long: `import converts policies written for another tool into one signet policy:

  connaisseur        Connaisseur's Helm values (application.validators,
                     application.policy)
  policy-controller  Sigstore policy-controller ClusterImagePolicy objects
  kyverno            Kyverno ClusterPolicy and Policy verifyImages rules

FILE "-" reads standard input. The policy is written to -o FILE, or to
stdout. Every construct without an exact equivalent in signet is a comment
in the policy, marked NOTE, and is listed on stderr: review them before
using the policy. Image patterns are translated so that they match the same
images as in the original tool.

Exit codes: 0 converted (notes or not); 2 an input that cannot be read as
the tool's policies, or a usage error.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImport(args[0], args[1:], output, cmd.InOrStdin(), stdout, stderr)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the policy to this file instead of stdout")
	return cmd
}

func runImport(tool string, files []string, output string, stdin io.Reader, stdout, stderr io.Writer) error {
	in := make([]policyimport.Input, 0, len(files))
	for _, f := range files {
		data, err := readInput(f, stdin, maxImportBytes)
		if err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
		in = append(in, policyimport.Input{Name: f, Data: data})
	}
	res, err := policyimport.Import(tool, in)
	if err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	if r := policy.Lint(res.Policy); !r.Valid() {
		// A converter bug: say so rather than hand over a policy that
		// signet would refuse.
		for _, e := range r.Errors {
			fmt.Fprintf(stderr, "signet: the converted policy is invalid: %s\n", fieldMsg(e))
		}
		return &exitError{code: ExitUsage}
	}
	if output == "" {
		if _, err := stdout.Write(res.Policy); err != nil {
			return err
		}
	} else if err := os.WriteFile(output, res.Policy, 0o644); err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	if len(res.Notes) == 0 {
		fmt.Fprintf(stderr, "converted from %s: every construct has an exact equivalent\n", tool)
		return nil
	}
	fmt.Fprintf(stderr, "converted from %s with %d note(s) to review (NOTE comments in the policy):\n", tool, len(res.Notes))
	for _, n := range res.Notes {
		where := n.Source
		if where == "" {
			where = n.Path
		}
		if where != "" {
			where += ": "
		}
		fmt.Fprintf(stderr, "  - %s%s\n", where, n.Message)
	}
	return nil
}

// readInput reads the file at path ("-": stdin), limit bytes at most.
func readInput(path string, stdin io.Reader, limit int64) ([]byte, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(buf.Len()) > limit {
		return nil, fmt.Errorf("%s: larger than %d MiB", path, limit>>20)
	}
	return buf.Bytes(), nil
}

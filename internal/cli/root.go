package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/signet-dev/signet/internal/version"
)

// Exit codes.
const (
	ExitAllowed      = 0
	ExitDenied       = 1
	ExitUsage        = 2
	ExitInconclusive = 3
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error // printed when non-nil
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// Execute runs the signet command line and returns the process exit code.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitAllowed
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "signet:", ee.err)
		}
		return ee.code
	}
	// Flag parsing and unknown commands.
	fmt.Fprintln(stderr, "signet:", err)
	return ExitUsage
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "signet",
		Short: "Admit only signed, trusted container images",
		Long: `signet verifies container image signatures against a policy and pins
images to the digest it verified.

  signet verify --policy policy.yaml ghcr.io/org/app:1.2.3`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String(),
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newVerify(stdout, stderr), newServe(stderr), newDemo(stdout), newVersion(stdout), newPolicy(stdout, stderr), newAudit(stdout, stderr), newImport(stdout, stderr), newExplain(stdout, stderr), newCheck(stdout, stderr))
	return root
}

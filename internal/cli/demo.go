package cli

import (
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/signet-dev/signet/internal/demo"
)

func newDemo(stdout io.Writer) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the walkthrough: embedded registry, signed and unsigned images, decisions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir != "" {
				// The key, policy and serving key are written there:
				// readable by the user only.
				if err := os.MkdirAll(dir, 0o700); err != nil {
					return usageError("--dir: %v", err)
				}
			}
			if err := demo.Run(cmd.Context(), stdout, dir); err != nil {
				return &exitError{code: ExitDenied, err: err}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for the generated key and policy, created when missing (default: a new temporary directory)")
	return cmd
}

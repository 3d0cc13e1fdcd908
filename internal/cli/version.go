package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/signet-dev/signet/internal/version"
)

func newVersion(stdout io.Writer) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version [--output text|json]",
		Short: "Print the version, commit, Go version and platform",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return printVersion(stdout, output, version.Get())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

func printVersion(w io.Writer, output string, v version.Info) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "text":
		commit := v.Commit
		if commit == "" {
			commit = "unknown"
		}
		fmt.Fprintf(w, "signet %s\ncommit:   %s\ngo:       %s\nplatform: %s\n", v.Version, commit, v.GoVersion, v.Platform)
		return nil
	}
	return usageError("--output must be text or json, got %q", output)
}

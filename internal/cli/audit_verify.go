package cli

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/spf13/cobra"

	"github.com/signet-dev/signet/internal/auditlog"
)

func newAuditVerify(stdout io.Writer) *cobra.Command {
	var key string
	var noKey bool
	cmd := &cobra.Command{
		Use:   "verify (--key PUB | --no-key) FILE...",
		Short: "Check a tamper-evident audit log (signet serve --audit-log): its hash chain and signed checkpoints",
		Long: `audit verify reads the files of one audit log — the active file and the
rotated ones, in any order (they are put in the order of their chain) —
and checks that every line carries the hash of the line before it, that
no line is missing, inserted or out of order, and that every checkpoint is
signed by --key (a PEM public key file or a KMS reference) over the
chain's length and head.

It prints the number of lines and the time they cover, and how many lines
follow the last checkpoint: those are not yet covered by a checkpoint, so
their removal from the end of the log cannot be detected. See
docs/security.md for what it detects and what it cannot.

Exit codes: 0 intact; 1 a line altered, removed, reordered or inserted
(named by file and line number), or a checkpoint not signed by the key;
2 usage error or unreadable file.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if (key == "") == !noKey {
				return usageError("give --key PUB (checkpoints verified) or --no-key (the chain only, which anyone can rewrite)")
			}
			var v signature.Verifier
			var id string
			if key != "" {
				var err error
				if v, id, err = auditlog.LoadVerifier(cmd.Context(), key); err != nil {
					return &exitError{code: ExitUsage, err: err}
				}
			}
			rep, err := auditlog.Verify(cmd.Context(), files, v, id)
			if te, ok := errors.AsType[*auditlog.TamperError](err); ok {
				return &exitError{code: ExitDenied, err: fmt.Errorf("audit log not intact: %w", te)}
			}
			if err != nil {
				return &exitError{code: ExitUsage, err: err}
			}
			printReport(stdout, rep, v != nil)
			return nil
		},
	}
	cmd.Flags().StringVar(&key, "key", "", "public key (PEM file or KMS reference) the checkpoints are signed with")
	cmd.Flags().BoolVar(&noKey, "no-key", false, "check the chain only, not the checkpoints' signatures")
	return cmd
}

func printReport(w io.Writer, r *auditlog.Report, keyed bool) {
	fmt.Fprintf(w, "intact: %d lines in %d files, from %s to %s\n", r.Lines, r.Files, r.First.Format(time.RFC3339), r.Last.Format(time.RFC3339))
	if r.StartSeq > 0 {
		fmt.Fprintf(w, "the chain starts at seq %d: %d earlier lines (older rotated files) were not given\n", r.StartSeq, r.StartSeq)
	}
	switch {
	case !keyed:
		fmt.Fprintf(w, "checkpoints not verified (--no-key): anyone can rewrite a hash chain\n")
	case r.Checkpoints == 0:
		fmt.Fprintf(w, "no checkpoint: %d lines not yet covered by a checkpoint\n", r.Uncovered)
	default:
		fmt.Fprintf(w, "%d checkpoints signed by the key; %d lines after the last one not yet covered by a checkpoint\n", r.Checkpoints, r.Uncovered)
	}
	if keyed && r.Overdue() {
		fmt.Fprintf(w, "warning: the lines not covered span %s, more than twice the checkpoint interval (%s): a checkpoint is missing (removed, or signing failed: signet_audit_write_errors_total{reason=\"sign\"})\n",
			r.Last.Sub(r.UncoveredSince).Round(time.Second), r.Interval)
	}
}

package cli

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/signet-dev/signet/internal/auditlog"
	"github.com/signet-dev/signet/internal/metrics"
)

// AuditKeyPasswordEnv holds the password of an encrypted --audit-key.
const AuditKeyPasswordEnv = "SIGNET_AUDIT_KEY_PASSWORD"

// auditFlagsServe are signet serve's audit log flags.
type auditFlagsServe struct {
	path               string
	maxSizeMiB         int64
	maxFiles           int
	key                string
	checkpointLines    int
	checkpointInterval time.Duration
	required           bool
	instance           string
}

func (f *auditFlagsServe) addFlags(fl *pflag.FlagSet) {
	fl.StringVar(&f.path, "audit-log", "", `tamper-evident audit log: one hash-chained JSON line per decision, in FILE (rotated by size) or "-" for stdout (default: none)`)
	fl.Int64Var(&f.maxSizeMiB, "audit-log-max-size", auditlog.DefaultMaxFileBytes>>20, "rotate the audit log file before it grows beyond this many MiB")
	fl.IntVar(&f.maxFiles, "audit-log-max-files", auditlog.DefaultMaxFiles, "rotated audit log files kept beside the active one (older ones are removed; -1 keeps all)")
	fl.StringVar(&f.key, "audit-key", "", "PEM private key file (Ed25519 or ECDSA; an encrypted one's password in $SIGNET_AUDIT_KEY_PASSWORD) or KMS reference (awskms://, gcpkms://, azurekms://, hashivault://) signing the audit log's checkpoints (default: no checkpoints)")
	fl.IntVar(&f.checkpointLines, "audit-checkpoint-lines", auditlog.DefaultCheckpointLines, "write a signed checkpoint after this many audit log lines")
	fl.DurationVar(&f.checkpointInterval, "audit-checkpoint-interval", auditlog.DefaultCheckpointInterval, "write a signed checkpoint this often when audit log lines were written since the last one")
	fl.BoolVar(&f.required, "audit-required", false, "fail closed: deny admissions (that signet would allow) while the audit log cannot be written")
	fl.StringVar(&f.instance, "audit-instance", "", "this instance's name in the audit log's genesis line (default: $POD_NAME, else the host name)")
}

// serveAudit is an open audit log.
type serveAudit struct {
	w   *auditlog.Writer
	req bool
}

// required is what admission asks with --audit-required, else nil.
func (a *serveAudit) required() interface{ Err() error } {
	if a == nil || !a.req {
		return nil
	}
	return a.w
}

func (a *serveAudit) close(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.w.Close(ctx); err != nil {
		log.Error("audit log: closing", "error", err.Error())
	}
}

// open checks the flags and opens the log (nil without --audit-log).
func (f *auditFlagsServe) open(ctx context.Context, stdout io.Writer, decisionLog string, log *slog.Logger, m *metrics.Metrics) (*serveAudit, error) {
	switch {
	case f.path == "" && (f.required || f.key != ""):
		return nil, usageError("--audit-required and --audit-key need --audit-log")
	case f.path == "":
		return nil, nil
	case f.path == "-" && decisionLog == "stdout":
		return nil, usageError("--audit-log=- and --decision-log=stdout would share stdout: send one elsewhere")
	case f.maxSizeMiB <= 0 || f.checkpointLines <= 0 || f.checkpointInterval <= 0 || f.maxFiles == 0 || f.maxFiles < -1:
		return nil, usageError("--audit-log-max-size, --audit-log-max-files (or -1), --audit-checkpoint-lines and --audit-checkpoint-interval must be positive")
	}
	o := auditlog.Options{
		Path: f.path, Stdout: stdout, Instance: f.instance,
		MaxFileBytes: f.maxSizeMiB << 20, MaxFiles: f.maxFiles,
		CheckpointLines: f.checkpointLines, CheckpointInterval: f.checkpointInterval,
		Log: log, Metrics: m,
	}
	if o.Instance == "" {
		o.Instance = os.Getenv("POD_NAME")
	}
	if o.Instance == "" {
		o.Instance, _ = os.Hostname()
	}
	if f.key != "" {
		var password []byte // an encrypted key's (cosign generate-key-pair's), from the environment only
		if p, ok := os.LookupEnv(AuditKeyPasswordEnv); ok {
			password = []byte(p)
		}
		s, id, err := auditlog.LoadSigner(ctx, f.key, password)
		if err != nil {
			return nil, &exitError{code: ExitUsage, err: err}
		}
		o.Signer, o.KeyID = s, id
	}
	w, err := auditlog.Open(o)
	if err != nil {
		return nil, &exitError{code: ExitUsage, err: err}
	}
	return &serveAudit{w: w, req: f.required}, nil
}

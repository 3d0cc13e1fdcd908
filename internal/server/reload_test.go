package server

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
)

// TestPolicyWatcherPositions: a policy signet serve rejects, at start-up
// or on reload, is reported with the file, and every error with its line
// and column — a value of the wrong type does not hide the others.
func TestPolicyWatcherPositions(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(path, []byte("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nmode: enforse\n"+
		"validators:\n  - {name: s, type: static, approve: \"yes\"}\nrules:\n  - pattern: \"**\"\n    validator: t\n"), 0o600)
	compile := func(d *policy.Document, _ string) (*policy.Engine, error) { return policy.Compile(d, nil) }
	_, err := NewPolicyWatcher(path, compile, slog.New(slog.DiscardHandler), nil)
	for _, want := range []string{
		"invalid policy " + path + ":",
		"\n  3:7: mode: must be",
		"\n  5:38: validators[0].approve: expected true or false",
		"\n  8:16: rules[0].validator: unknown validator \"t\"",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nlacks %q", err, want)
		}
	}
}

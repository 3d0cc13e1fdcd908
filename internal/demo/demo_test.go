package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestRun runs the whole walkthrough `make demo` shows.
func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := Run(context.Background(), &out, t.TempDir()); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"allowed, pinned to sha256:", "pod/web created: allowed, pinned to sha256:", `admission webhook "signet" denied the request`, "no policy rule matches",
		"attestations [built-by-ci] met", `attestation requirement "built-by-ci"`, "built by the demo CI builder", "pod/built created: allowed, pinned to sha256:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

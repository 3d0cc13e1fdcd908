package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/testutil"
)

// TestVerifyWhichRuleApplies: `signet verify` decides every spelling of an
// image — tag, digest, tag@digest with the tag's digest or another, a tag
// naming a denied digest, the registry written other ways — by the rule
// that applies to the content that runs (docs/policy.md, "Which rule
// applies"), and exits 1 since some are denied.
func TestVerifyWhichRuleApplies(t *testing.T) {
	t.Parallel()
	f := testutil.NewSpellings(t)
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(f.Policy), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := f.Cases()
	args := []string{"verify", "--policy", p, "--output", "json"}
	for _, tc := range cases {
		args = append(args, tc.Image)
	}
	var stdout, stderr bytes.Buffer
	if code := Execute(context.Background(), args, &stdout, &stderr); code != ExitDenied {
		t.Fatalf("exit %d, want %d; stderr: %s", code, ExitDenied, stderr.String())
	}
	var ds []policy.Decision
	if err := json.Unmarshal(stdout.Bytes(), &ds); err != nil || len(ds) != len(cases) {
		t.Fatalf("%d decisions (%v), want %d: %s", len(ds), err, len(cases), stdout.String())
	}
	for i, tc := range cases {
		d := ds[i]
		if d.Image != tc.Image || d.Rule != tc.Rule || d.Allowed != tc.Allowed || string(d.Outcome) != tc.Outcome {
			t.Errorf("%s: %s: rule %q allowed=%v %s, want rule %q allowed=%v %s; reason: %s",
				tc.Name, d.Image, d.Rule, d.Allowed, d.Outcome, tc.Rule, tc.Allowed, tc.Outcome, d.Reason)
		}
		if d.Allowed && d.Pinned != f.Repo+"@"+tc.Digest {
			t.Errorf("%s: pinned %q, want %s@%s", tc.Name, d.Pinned, f.Repo, tc.Digest)
		}
	}
}

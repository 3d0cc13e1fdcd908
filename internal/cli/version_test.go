package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/cli"
	"github.com/signet-dev/signet/internal/version"
)

// TestVersion: signet version prints the version, commit, Go version and
// platform, as text or JSON; another format is a usage error.
func TestVersion(t *testing.T) {
	t.Parallel()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"version"}, 0, []string{"signet " + version.Version + "\n", "commit:", "go:       " + runtime.Version(), "platform: " + platform}},
		{[]string{"version", "-o", "text"}, 0, []string{"platform: " + platform}},
		{[]string{"version", "-o", "json"}, 0, []string{`"version": "` + version.Version + `"`, `"goVersion": "` + runtime.Version() + `"`, `"platform": "` + platform + `"`, `"commit": `}},
		{[]string{"version", "--output", "json"}, 0, []string{`"platform": "` + platform + `"`}},
		{[]string{"version", "-o", "yaml"}, 2, nil},
		{[]string{"version", "extra"}, 2, nil},
	} {
		var stdout, stderr bytes.Buffer
		code := cli.Execute(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", tc.args, code, tc.code, stderr.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(stdout.String(), w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, w, stdout.String())
			}
		}
		if slices.Contains(tc.args, "json") && tc.code == 0 {
			var v version.Info
			if err := json.Unmarshal(stdout.Bytes(), &v); err != nil || v.Platform != platform || v.GoVersion != runtime.Version() {
				t.Errorf("%v: JSON %q does not decode to the build info: %v", tc.args, stdout.String(), err)
			}
		}
	}
}

package hostile_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
	"github.com/signet-dev/signet/test/hostile"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}

// MiB is a mebibyte.
const MiB = 1 << 20

// TestBinaryUnderHostileRegistry runs the built `signet verify` against
// the hostile registry and measures its peak RSS (the child's VmHWM, from
// wait4's rusage): one huge answer must cost under 50 MiB over a run
// against a well-behaved registry, twenty at once must keep the process
// under 300 MiB, and a stalled registry must be denied within --timeout
// with the image and the registry named.
//
// The cases run one after the other: they measure memory, so they must
// not share the machine's two cores with each other.
func TestBinaryUnderHostileRegistry(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the signet binary")
	}
	bin := harness.Bin(t, "signet")
	key := testutil.NewKey(t)

	type fault struct {
		method, path string
		f            hostile.Fault
	}
	// elsewhere answers 190 MiB to anything, for redirects.
	elsewhere := hostile.New(t)
	elsewhere.On("GET", "chunked", hostile.Fault{Huge: 190 << 20, Chunked: true})
	elsewhere.On("GET", "", hostile.Fault{Huge: 190 << 20})
	blob := "/v2/demo/app/blobs/sha256:" + strings.Repeat("0", 64)
	huge := []fault{{"GET", sigManifest, hostile.Fault{Huge: 10 * hostile.GiB}}}
	hugeChunked := []fault{{"GET", sigManifest, hostile.Fault{Huge: 10 * hostile.GiB, Chunked: true}}}
	tests := []struct {
		name    string
		images  int
		faults  []fault
		outcome verify.Outcome
		has     string
		exit    int
		// maxRSS bounds the peak RSS; overBase bounds it over the
		// baseline run (the first case).
		maxRSS, overBase int64
	}{
		{name: "baseline: unsigned image", images: 1, outcome: verify.Failed, has: "no cosign signatures found", exit: 1},
		{name: "one 10 GiB signature manifest", images: 1, faults: huge, outcome: verify.Failed, has: "over signet's limit", exit: 1, overBase: 50 * MiB},
		{name: "one 10 GiB signature manifest, no Content-Length", images: 1, faults: hugeChunked, outcome: verify.Failed, has: "over signet's limit", exit: 1, overBase: 50 * MiB},
		{name: "twenty 10 GiB signature manifests", images: 20, faults: huge, outcome: verify.Failed, has: "over signet's limit", exit: 1, maxRSS: 300 * MiB},
		{name: "twenty 10 GiB signature manifests, no Content-Length", images: 20, faults: hugeChunked, outcome: verify.Failed, has: "over signet's limit", exit: 1, maxRSS: 300 * MiB},
		{name: "twenty 10 GiB referrers lists, no Content-Length", images: 20, faults: []fault{
			{"GET", sigManifest, hostile.Fault{Status: 404}},
			{"GET", referrers, hostile.Fault{Huge: 10 * hostile.GiB, Chunked: true}}},
			outcome: verify.Failed, has: "over signet's limit", exit: 1, maxRSS: 300 * MiB},
		{name: "one signature manifest redirected to a 190 MiB blob", images: 1, faults: []fault{
			{"GET", sigManifest, hostile.Fault{RedirectTo: blob}},
			{"GET", blob, hostile.Fault{Huge: 190 << 20}}},
			outcome: verify.Failed, has: "over signet's limit", exit: 1, overBase: 50 * MiB},
		{name: "twenty signature manifests redirected to a 190 MiB blob, no Content-Length", images: 20, faults: []fault{
			{"GET", sigManifest, hostile.Fault{RedirectTo: blob}},
			{"GET", blob, hostile.Fault{Huge: 190 << 20, Chunked: true}}},
			outcome: verify.Failed, has: "over signet's limit", exit: 1, maxRSS: 300 * MiB},
		{name: "twenty signature manifests redirected to another host's 190 MiB answers", images: 20, faults: []fault{
			{"GET", sigManifest, hostile.Fault{Redirect: "http://" + elsewhere.Host}}},
			outcome: verify.Failed, has: "over signet's limit", exit: 1, maxRSS: 300 * MiB},
		{name: "twenty signature manifests redirected to another host, no Content-Length", images: 20, faults: []fault{
			{"GET", sigManifest, hostile.Fault{RedirectTo: "http://" + elsewhere.Host + "/chunked"}}},
			outcome: verify.Failed, has: "over signet's limit", exit: 1, maxRSS: 300 * MiB},
		{name: "stalled registry", images: 1, faults: []fault{{"", tagManifest, hostile.Fault{StallHeaders: true}}},
			outcome: verify.Inconclusive, has: "registry did not answer before the deadline", exit: 3},
		{name: "twenty stalled signature reads", images: 20, faults: []fault{{"GET", sigManifest, hostile.Fault{StallAfter: 10}}},
			outcome: verify.Inconclusive, has: "registry did not answer before the deadline", exit: 3, maxRSS: 300 * MiB},
	}
	var base int64
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := hostile.New(t)
			images := make([]string, tc.images)
			for i := range images {
				images[i] = reg.Ref(fmt.Sprintf("demo/app%d:v1", i))
				reg.Push(t, fmt.Sprintf("demo/app%d:v1", i))
			}
			for _, f := range tc.faults {
				reg.On(f.method, f.path, f.f)
			}
			p := filepath.Join(t.TempDir(), "policy.yaml")
			if err := os.WriteFile(p, []byte(testutil.Policy(key.PEM, `- {pattern: "`+reg.Host+`/**", validator: signed}
- {pattern: "`+elsewhere.Host+`/**", validator: deny}`)), 0o600); err != nil {
				t.Fatal(err)
			}
			timeout := 3 * time.Second
			cmd := exec.Command(bin, append([]string{"verify", "--policy", p, "--output", "json", "--timeout", timeout.String()}, images...)...)
			cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
			start := time.Now()
			code, stdout, stderr, rss := harness.ExitCodePeak(t, cmd)
			took := time.Since(start)
			t.Logf("%d image(s): exit %d in %s, peak RSS %.1f MiB", tc.images, code, took.Round(10*time.Millisecond), float64(rss)/MiB)

			// signet verify checks 8 images at a time, each under its own
			// deadline: 20 stalled images take three rounds.
			rounds := time.Duration((tc.images + 7) / 8)
			if limit := rounds*timeout + slack; took > limit {
				t.Errorf("answered after %s, want under %s", took, limit)
			}
			if code != tc.exit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.exit, stdout, stderr)
			}
			var ds []policy.Decision
			if err := json.Unmarshal([]byte(stdout), &ds); err != nil {
				t.Fatalf("decoding output: %v\n%s", err, stdout)
			}
			for i, d := range ds {
				if d.Allowed || d.Outcome != tc.outcome {
					t.Errorf("%s: allowed=%v outcome %s, want denied %s: %s", d.Image, d.Allowed, d.Outcome, tc.outcome, d.Reason)
				}
				for _, want := range []string{strings.TrimSuffix(images[i], ":v1"), tc.has} {
					if !strings.Contains(d.Reason, want) {
						t.Errorf("reason does not say %q: %s", want, d.Reason)
					}
				}
			}
			if base == 0 {
				base = rss
			}
			if tc.maxRSS > 0 && rss > tc.maxRSS {
				t.Errorf("peak RSS %.1f MiB, want under %d MiB", float64(rss)/MiB, tc.maxRSS/MiB)
			}
			if tc.overBase > 0 && rss-base > tc.overBase {
				t.Errorf("peak RSS %.1f MiB, %.1f MiB over the baseline, want under %d MiB over", float64(rss)/MiB, float64(rss-base)/MiB, tc.overBase/MiB)
			}
		})
	}
}

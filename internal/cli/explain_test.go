package cli_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/cli"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestExplain: signet explain on an image signed with a real cosign
// signature in the in-process registry, for each kind of decision; the
// tree and the JSON are compared with goldens (the registry's address,
// digests and key fingerprints, which change every run, replaced).
func TestExplain(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	key, other := testutil.NewKey(t), testutil.NewKey(t)
	testutil.SignLegacy(t, reg.PushImage(t, "demo/app:v1"), key)
	reg.PushImage(t, "demo/unsigned:v1")
	built := reg.PushImage(t, "demo/built:v1")
	testutil.SignLegacy(t, built, key)
	testutil.AppendAttestation(t, built, key, testutil.StatementOf("https://slsa.dev/provenance/v1", map[string]any{"builder": "ci"}, built), "https://slsa.dev/provenance/v1")
	// Multi-platform images: signed recursively (the index and each
	// platform), and per platform only.
	multi, plats := reg.PushIndex(t, "demo/multi:v1", "linux/amd64", "linux/arm64")
	for _, d := range append(plats, multi) {
		testutil.SignLegacy(t, d, key)
	}
	_, plats = reg.PushIndex(t, "demo/multi:per-platform", "linux/amd64", "linux/arm64")
	for _, d := range plats {
		testutil.SignLegacy(t, d, key)
	}
	down := testutil.NewRegistry(t, false)
	down.PushImage(t, "demo/app:v1")
	down.SetDown(true)
	stalled := testutil.StalledServer(t)

	matching := `- {pattern: "` + reg.Host + `/demo/built", validator: signed, with: {attestations: [{name: built-by-ci, type: slsaprovenance1, conditions: [{expression: 'predicate.builder == "ci"'}]}]}}
- {pattern: "` + reg.Host + `/demo/multi", validator: signed, with: {platforms: all}}
- {pattern: "` + reg.Host + `/demo/**", validator: signed}
- {pattern: "` + reg.Host + `/**", validator: deny}
- {pattern: "**", validator: deny}
`
	for _, tc := range []struct {
		name, key, rules, image string
		code                    int
		outcome                 verify.Outcome
		timeout                 string
	}{
		{"allowed", key.PEM, matching, reg.Host + "/demo/app:v1", 0, verify.Verified, ""},
		{"allowed-attested", key.PEM, matching, reg.Host + "/demo/built:v1", 0, verify.Verified, ""},
		{"allowed-platforms", key.PEM, matching, reg.Host + "/demo/multi:v1", 0, verify.Verified, ""},
		{"denied-platforms", key.PEM, matching, reg.Host + "/demo/multi:per-platform", 1, verify.Failed, ""},
		{"denied-wrong-key", other.PEM, matching, reg.Host + "/demo/app:v1", 1, verify.Failed, ""},
		{"denied-unsigned", key.PEM, matching, reg.Host + "/demo/unsigned:v1", 1, verify.Failed, ""},
		{"denied-no-rule", key.PEM, `- {pattern: "registry.example.com/**", validator: signed}` + "\n", reg.Host + "/demo/app:v1", 1, verify.Failed, ""},
		{"inconclusive", key.PEM, `- {pattern: "` + down.Host + `/**", validator: signed}` + "\n", down.Host + "/demo/app:v1", 3, verify.Inconclusive, "60s"}, // the client retries a 503 with backoff: ~4 s, more on a busy machine
		// The error of a request cut short by the deadline is worded
		// variously: no golden.
		{"inconclusive-timeout", key.PEM, `- {pattern: "` + stalled + `/**", validator: signed}` + "\n", stalled + "/demo/app:v1", 3, verify.Inconclusive, "1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "policy.yaml")
			if err := os.WriteFile(p, []byte(testutil.Policy(tc.key, tc.rules)), 0o600); err != nil {
				t.Fatal(err)
			}
			var text, js, stderr bytes.Buffer
			timeout := cmp.Or(tc.timeout, "5s")
			if code := cli.Execute(context.Background(), []string{"explain", "--policy", p, "--timeout", timeout, tc.image}, &text, &stderr); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s\n%s", code, tc.code, stderr.String(), text.String())
			}
			if code := cli.Execute(context.Background(), []string{"explain", "--policy", p, "--timeout", timeout, "-o", "json", tc.image}, &js, &stderr); code != tc.code {
				t.Fatalf("json: exit %d, want %d; stderr %s", code, tc.code, stderr.String())
			}
			var tr policy.Trace
			if err := json.Unmarshal(js.Bytes(), &tr); err != nil {
				t.Fatalf("JSON output: %v\n%s", err, js.String())
			}
			if tr.Decision.Outcome != tc.outcome || tr.Reference == nil || !strings.HasPrefix(tc.image, tr.Reference.Registry+"/") {
				t.Errorf("decision %s, reference %+v; want outcome %s", tr.Decision.Outcome, tr.Reference, tc.outcome)
			}
			if tc.name == "inconclusive-timeout" {
				if !strings.Contains(text.String(), "decision: denied (inconclusive)") {
					t.Errorf("text output:\n%s", text.String())
				}
				return
			}
			hosts := map[string]string{reg.Host: "REGISTRY", down.Host: "REGISTRY"}
			golden(t, "explain/"+tc.name+".txt", stable(text.String(), hosts))
			golden(t, "explain/"+tc.name+".json", stable(js.String(), hosts))
		})
	}
}

// TestExplainUsage: explain takes exactly one image, and the policy flags
// of signet verify.
func TestExplainUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"explain", "nginx"},
		{"explain", "--policy", "p.yaml"},
		{"explain", "--policy", "p.yaml", "nginx", "redis"},
		{"explain", "--policy", "p.yaml", "-o", "yaml", "nginx"},
		{"explain", "--policy", "p.yaml", "Not A Reference"},
	} {
		var stdout, stderr bytes.Buffer
		if code := cli.Execute(context.Background(), args, &stdout, &stderr); code != cli.ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, cli.ExitUsage, stderr.String())
		}
	}
}

var (
	digestRE = regexp.MustCompile(`sha256([:-])[0-9a-f]{64}`)
	portRE   = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)
)

// stable replaces what changes from run to run: the registries' addresses,
// digests and key fingerprints.
func stable(s string, hosts map[string]string) string {
	for h, with := range hosts {
		s = strings.ReplaceAll(s, h, with)
	}
	s = portRE.ReplaceAllString(s, "127.0.0.1:PORT")
	return digestRE.ReplaceAllString(s, "sha256${1}HEX")
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden (-update rewrites it):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

package hostile_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
	"github.com/signet-dev/signet/test/hostile"
)

// deadline is the per-image deadline of these tests; slack is what an
// answer may take past it (scheduling on a loaded machine). Answering
// within deadline+slack is a correctness bound, not a benchmark.
const (
	deadline = 2 * time.Second
	slack    = 1500 * time.Millisecond
)

// Paths the faults aim at. Resolution is HEAD /manifests/v1 (GET on
// failure); cosign signatures are GET /manifests/sha256-….sig, then the
// signature's blob, then the referrers list.
const (
	tagManifest = "/manifests/v1"
	sigManifest = ".sig"
	blobs       = "/blobs/"
	referrers   = "/referrers/"
)

// TestHostileRegistry runs the engine — resolution, then the cosign
// verifier — against a registry misbehaving in one way per case. Every
// case must answer within the deadline, never "verified" unless the fault
// is one signet is expected to ride out, and with a reason naming the
// image (hence its registry) and what happened.
func TestHostileRegistry(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	stalled := testutil.StalledServer(t)
	refused := "http://" + harness.FreeAddr(t)
	// elsewhere serves 190 MiB bodies on any path; unlisted is a registry
	// no policy lists under insecureRegistries.
	elsewhere, unlisted := hostile.New(t), hostile.New(t)
	elsewhere.On("GET", "chunked", hostile.Fault{Huge: 190 << 20, Chunked: true})
	elsewhere.On("GET", "", hostile.Fault{Huge: 190 << 20})
	// Every host the registry sends signet to is listed, but unlisted.
	others := ""
	for _, h := range []string{stalled, strings.TrimPrefix(refused, "http://"), elsewhere.Host} {
		others += "\n- {pattern: \"" + h + "/**\", validator: deny}"
	}

	type fault struct {
		method, path string
		f            hostile.Fault
	}
	tests := []struct {
		name    string
		faults  []fault
		flood   func(t *testing.T, reg *hostile.Registry, img string)
		outcome verify.Outcome
		has     []string
	}{
		{name: "no fault", outcome: verify.Verified},

		// Slow registries: denied at the deadline, as inconclusive.
		{name: "HEAD never answers", faults: []fault{{"", tagManifest, hostile.Fault{StallHeaders: true}}},
			outcome: verify.Inconclusive, has: []string{"resolving", "did not answer before the deadline"}},
		{name: "signature manifest never answers", faults: []fault{{"GET", sigManifest, hostile.Fault{StallHeaders: true}}},
			outcome: verify.Inconclusive, has: []string{"fetching signatures", "did not answer before the deadline"}},
		{name: "signature manifest stalls mid-body", faults: []fault{{"GET", sigManifest, hostile.Fault{StallAfter: 20}}},
			outcome: verify.Inconclusive, has: []string{"fetching signatures", "did not answer before the deadline"}},
		{name: "signature blob trickles", faults: []fault{{"GET", blobs, hostile.Fault{Trickle: 200 * time.Millisecond}}},
			outcome: verify.Inconclusive, has: []string{"did not answer before the deadline"}},
		{name: "headers never end", faults: []fault{{"", tagManifest, hostile.Fault{EndlessHeaders: true}}},
			outcome: verify.Inconclusive, has: []string{"resolving", "headers"}},

		// Rate limits and server errors.
		{name: "429 with Retry-After that fits", faults: []fault{{"", tagManifest, hostile.Fault{Status: 429, RetryAfter: "1", Times: 1}}},
			outcome: verify.Verified},
		{name: "429 with Retry-After past the deadline", faults: []fault{{"", tagManifest, hostile.Fault{Status: 429, RetryAfter: "30"}}},
			outcome: verify.Inconclusive, has: []string{"resolving", "rate limiting (HTTP 429)"}},
		{name: "429 without Retry-After", faults: []fault{{"", tagManifest, hostile.Fault{Status: 429}}},
			outcome: verify.Inconclusive, has: []string{"rate limiting (HTTP 429)"}},
		{name: "503 once", faults: []fault{{"GET", sigManifest, hostile.Fault{Status: 503, Times: 1}}},
			outcome: verify.Verified},
		{name: "503 always", faults: []fault{{"", tagManifest, hostile.Fault{Status: 503}}},
			outcome: verify.Inconclusive, has: []string{"resolving", "HTTP 503"}},
		{name: "500 on the signature manifest", faults: []fault{{"GET", sigManifest, hostile.Fault{Status: 500, RetryAfter: "1"}}},
			outcome: verify.Inconclusive, has: []string{"fetching signatures", "HTTP 500"}},

		// Redirects.
		{name: "redirect loop", faults: []fault{{"", tagManifest, hostile.Fault{Redirect: "loop"}}},
			outcome: verify.Inconclusive, has: []string{"resolving", "redirected", "more than 10 times"}},
		{name: "blob redirected to a host that never answers", faults: []fault{{"GET", blobs, hostile.Fault{Redirect: "http://" + stalled}}},
			outcome: verify.Inconclusive, has: []string{"did not answer before the deadline"}},
		{name: "blob redirected to a closed port", faults: []fault{{"GET", blobs, hostile.Fault{Redirect: refused}}},
			outcome: verify.Inconclusive, has: []string{"unreachable"}},
		{name: "signature manifest redirected to a plain HTTP registry not listed", faults: []fault{{"GET", sigManifest, hostile.Fault{Redirect: "http://" + unlisted.Host}}},
			outcome: verify.Inconclusive, has: []string{"fetching signatures", "refused plain HTTP", "not listed in the policy's insecureRegistries"}},

		// Redirects never lift a limit: it is the first request's.
		{name: "signature manifest redirected to a 190 MiB blob", faults: []fault{
			{"GET", sigManifest, hostile.Fault{RedirectTo: "/v2/demo/app/blobs/sha256:" + strings.Repeat("0", 64)}},
			{"GET", blobs, hostile.Fault{Huge: 190 << 20}}},
			outcome: verify.Failed, has: []string{"fetching signatures", "with 199229440 bytes, over signet's limit of 4194304 bytes for a manifest or referrers list"}},
		{name: "signature manifest redirected to another path, 190 MiB without Content-Length", faults: []fault{
			{"GET", sigManifest, hostile.Fault{RedirectTo: "/elsewhere"}},
			{"GET", "/elsewhere", hostile.Fault{Huge: 190 << 20, Chunked: true}}},
			outcome: verify.Failed, has: []string{"fetching signatures", "over signet's limit of 4194304 bytes for a manifest or referrers list"}},
		{name: "image manifest redirected to another host's 190 MiB blob", faults: []fault{
			{"HEAD", tagManifest, hostile.Fault{Status: 405}},
			{"GET", tagManifest, hostile.Fault{RedirectTo: "http://" + elsewhere.Host + "/v2/x/blobs/sha256:" + strings.Repeat("0", 64)}}},
			outcome: verify.Failed, has: []string{"resolving", "with 199229440 bytes, over signet's limit of 4194304 bytes for a manifest or referrers list"}},
		{name: "referrers list redirected to another host, 190 MiB without Content-Length", faults: []fault{
			{"GET", sigManifest, hostile.Fault{Status: 404}},
			{"GET", referrers, hostile.Fault{RedirectTo: "http://" + elsewhere.Host + "/v2/x/referrers/chunked"}}},
			outcome: verify.Failed, has: []string{"listing OCI referrers", "over signet's limit of 4194304 bytes for a manifest or referrers list"}},
		{name: "signature blob redirected to another host's 190 MiB answer", faults: []fault{
			{"GET", blobs, hostile.Fault{Redirect: "http://" + elsewhere.Host}}},
			outcome: verify.Failed, has: []string{"with 199229440 bytes, over signet's limit of 4194304 bytes for a blob"}},

		// Huge answers: refused without reading them.
		{name: "10 GiB signature manifest", faults: []fault{{"GET", sigManifest, hostile.Fault{Huge: 10 * hostile.GiB}}},
			outcome: verify.Failed, has: []string{"fetching signatures", "with 10737418240 bytes, over signet's limit of 4194304 bytes"}},
		{name: "10 GiB signature manifest, no Content-Length", faults: []fault{{"GET", sigManifest, hostile.Fault{Huge: 10 * hostile.GiB, Chunked: true}}},
			outcome: verify.Failed, has: []string{"fetching signatures", "over signet's limit"}},
		{name: "10 GiB image manifest on the GET fallback", faults: []fault{
			{"HEAD", tagManifest, hostile.Fault{Status: 405}},
			{"GET", tagManifest, hostile.Fault{Huge: 10 * hostile.GiB, Chunked: true}}},
			outcome: verify.Failed, has: []string{"resolving", "over signet's limit"}},
		{name: "10 GiB referrers list", faults: []fault{
			{"GET", sigManifest, hostile.Fault{Status: 404}},
			{"GET", referrers, hostile.Fault{Huge: 10 * hostile.GiB}}},
			outcome: verify.Failed, has: []string{"listing OCI referrers", "over signet's limit"}},
		{name: "10 GiB signature blob", faults: []fault{{"GET", blobs, hostile.Fault{Huge: 10 * hostile.GiB}}},
			outcome: verify.Failed, has: []string{"over signet's limit of 4194304 bytes for a blob"}},
		{name: "10 GiB signature blob, no Content-Length", faults: []fault{{"GET", blobs, hostile.Fault{Huge: 10 * hostile.GiB, Chunked: true}}},
			outcome: verify.Inconclusive, has: []string{"larger than 1048576 bytes"}},

		// Content that is not what was asked for.
		{name: "signature blob with another digest", faults: []fault{{"GET", blobs, hostile.Fault{Corrupt: true}}},
			outcome: verify.Inconclusive, has: []string{"fetching signatures", "unusable answer", "checksum"}},
		{name: "signature manifest truncated", faults: []fault{{"GET", sigManifest, hostile.Fault{Truncate: true}}},
			outcome: verify.Inconclusive, has: []string{"fetching signatures", "mid-answer"}},
		{name: "signature blob truncated", faults: []fault{{"GET", blobs, hostile.Fault{Truncate: true}}},
			outcome: verify.Inconclusive, has: []string{"fetching signatures", "mid-answer"}},

		// Floods: a bounded number examined, the rest ignored, and the
		// reason says so.
		{name: "5000 signature layers", flood: func(t *testing.T, reg *hostile.Registry, img string) {
			hostile.SignatureFlood(t, mustDigest(t, img), 5000)
		}, outcome: verify.Failed, has: []string{"5000 signature layers", "only the first 64 examined"}},
		{name: "5000 referrers", flood: func(t *testing.T, reg *hostile.Registry, img string) {
			reg.On("GET", "/manifests/sha256-", hostile.Fault{Status: 404})
			reg.On("GET", referrers, hostile.Fault{Body: hostile.ReferrersFlood(t, mustDigest(t, img), 5000), ContentType: "application/vnd.oci.image.index.v1+json"})
		}, outcome: verify.Failed, has: []string{"5000 referrers", "only the first 64 examined"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := hostile.New(t)
			image := reg.Ref("demo/app:v1")
			img := reg.Push(t, "demo/app:v1")
			if tc.flood != nil {
				tc.flood(t, reg, img.String())
			} else {
				testutil.SignLegacy(t, img, key)
			}
			for _, f := range tc.faults {
				reg.On(f.method, f.path, f.f)
			}
			eng := compile(t, testutil.Policy(key.PEM, `- {pattern: "`+reg.Host+`/**", validator: signed}`+others))

			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			start := time.Now()
			d := eng.Evaluate(ctx, image)
			took := time.Since(start)

			if took > deadline+slack {
				t.Errorf("answered after %s, deadline %s", took.Round(time.Millisecond), deadline)
			}
			if d.Outcome != tc.outcome || d.Allowed != (tc.outcome == verify.Verified) {
				t.Fatalf("outcome %s allowed=%v, want %s; reason: %s", d.Outcome, d.Allowed, tc.outcome, d.Reason)
			}
			t.Logf("%s in %s: %s", d.Outcome, took.Round(time.Millisecond), d.Reason)
			if d.Allowed {
				return
			}
			for _, want := range append([]string{reg.Host + "/demo/app"}, tc.has...) {
				if !strings.Contains(d.Reason+checks(d), want) {
					t.Errorf("reason does not say %q:\n%s%s", want, d.Reason, checks(d))
				}
			}
		})
	}
}

func compile(t testing.TB, y string) *policy.Engine {
	t.Helper()
	doc, err := policy.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Compile(doc, registry.MustNew())
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// checks renders a decision's checks, where per-signature evidence is.
func checks(d policy.Decision) string {
	var b strings.Builder
	for i, c := range d.Checks {
		if i == 3 {
			b.WriteString("\n  …")
			break
		}
		b.WriteString("\n  " + c.Signature + ": " + c.Reason)
	}
	return b.String()
}

func mustDigest(t testing.TB, s string) name.Digest {
	t.Helper()
	d, err := name.NewDigest(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

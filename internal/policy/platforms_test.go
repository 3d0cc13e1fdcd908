package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// TestPlatformsParse: with.platforms is "index", "all" or
// {any-of: [os/arch…]}; anything else is reported at its field path.
func TestPlatformsParse(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	for _, tc := range []struct {
		with  string
		field string // "" when valid
		msg   string
	}{
		{with: `{platforms: index}`},
		{with: `{platforms: all}`},
		{with: `{platforms: {any-of: [linux/amd64, linux/arm64]}}`},
		{with: `{platforms: {any-of: [linux/arm/v7, windows/amd64]}}`},
		{with: `{platforms: every}`, field: "rules[0].with.platforms", msg: `must be "index", "all" or {any-of: [os/arch, …]}, got "every"`},
		{with: `{platforms: ""}`, field: "rules[0].with.platforms", msg: `got ""`},
		{with: `{platforms: 5}`, field: "rules[0].with.platforms", msg: "expected a string (\"index\" or \"all\") or an object {any-of: [os/arch, …]}, got the number 5"},
		{with: `{platforms: [linux/amd64]}`, field: "rules[0].with.platforms", msg: "got a list"},
		{with: `{platforms: {anyOf: [linux/amd64]}}`, field: "rules[0].with.platforms.anyOf", msg: `unknown field (did you mean "any-of"?)`},
		{with: `{platforms: {}}`, field: "rules[0].with.platforms.any-of", msg: "lists no platform"},
		{with: `{platforms: {any-of: []}}`, field: "rules[0].with.platforms.any-of", msg: "lists no platform"},
		{with: `{platforms: {any-of: linux/amd64}}`, field: "rules[0].with.platforms.any-of", msg: "expected a list"},
		{with: `{platforms: {any-of: [linux]}}`, field: "rules[0].with.platforms.any-of[0]", msg: `"linux" is not a platform`},
		{with: `{platforms: {any-of: [Linux/AMD64]}}`, field: "rules[0].with.platforms.any-of[0]", msg: "is not a platform"},
		{with: `{platforms: {any-of: [linux/amd64, 7]}}`, field: "rules[0].with.platforms.any-of[1]", msg: "expected a string"},
		{with: `{platforms: {any-of: [linux/arm64, linux/arm64/v8]}}`, field: "rules[0].with.platforms.any-of[1]", msg: `"linux/arm64/v8" is the same platform as "linux/arm64" (any-of[0])`},
		{with: `{platforms: {any-of: [linux/arm, linux/arm/v7]}}`, field: "rules[0].with.platforms.any-of[1]", msg: "same platform"},
		{with: `{platforms: {any-of: [` + strings.Repeat("linux/a,", 16) + `linux/b]}}`, field: "rules[0].with.platforms.any-of", msg: "lists 17 platforms; at most 16"},
	} {
		t.Run(tc.with, func(t *testing.T) {
			t.Parallel()
			doc, err := policy.Parse([]byte(testutil.Policy(key.PEM, "- {pattern: \"**\", validator: signed, with: "+tc.with+"}\n")))
			if err == nil {
				_, err = policy.Compile(doc, nil, policy.Offline())
			}
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ie *policy.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an *InvalidError at %s", err, tc.field)
			}
			for _, fe := range ie.Errs {
				if fe.Field == tc.field && strings.Contains(fe.Msg, tc.msg) {
					if fe.Line == 0 {
						t.Errorf("%v: no line", fe)
					}
					return
				}
			}
			t.Errorf("err = %v\nwant %s: …%s…", err, tc.field, tc.msg)
		})
	}

	// Only signature validators look into an index.
	doc, err := policy.Parse([]byte(testutil.Policy(key.PEM, "- {pattern: \"**\", validator: allow, with: {platforms: all}}\n")))
	if err == nil {
		_, err = policy.Compile(doc, nil, policy.Offline())
	}
	if err == nil || !strings.Contains(err.Error(), "rules[0].with.platforms: applies to cosign and notation validators only") {
		t.Errorf("static validator with platforms all: %v", err)
	}
	// index is the default, and written so it changes nothing.
	doc, err = policy.Parse([]byte(testutil.Policy(key.PEM, "- {pattern: \"**\", validator: allow, with: {platforms: index}}\n")))
	if err == nil {
		_, err = policy.Compile(doc, nil, policy.Offline())
	}
	if err != nil {
		t.Errorf("static validator with platforms index: %v", err)
	}
}

// TestPlatformsJSON: the Go type writes what it reads.
func TestPlatformsJSON(t *testing.T) {
	t.Parallel()
	for _, s := range []string{`"index"`, `"all"`, `{"any-of":["linux/amd64","linux/arm64"]}`} {
		var p policy.Platforms
		if err := json.Unmarshal([]byte(s), &p); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		b, err := json.Marshal(p)
		if err != nil || string(b) != s {
			t.Errorf("%s: wrote %s, %v", s, b, err)
		}
	}
	for _, s := range []string{`1`, `true`, `[]`, `{"any-of":["linux/amd64"],"all":true}`} {
		var p policy.Platforms
		if err := json.Unmarshal([]byte(s), &p); err == nil {
			t.Errorf("%s: read as %+v", s, p)
		}
	}
}

// platformsPolicy is a policy whose rule for repository repo of h verifies
// with the cosign validator "signed" and with.platforms set to platforms.
func platformsEngine(t testing.TB, key *testutil.Key, h, platforms string) *policy.Engine {
	t.Helper()
	return engine(t, key, fmt.Sprintf("- {pattern: %q, validator: signed, with: {platforms: %s}}\n", h+"/**", platforms))
}

// TestPlatforms: which signing practice each with.platforms admits, on
// indexes of linux/amd64 and linux/arm64/v8 with a BuildKit attestation
// manifest (unknown/unknown, never signed), signed with the cosign
// signature tag schema.
func TestPlatforms(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	h := reg.Host
	type signed struct{ index, platforms bool }
	practices := map[string]signed{"unsigned": {}, "index only": {index: true}, "recursive": {true, true}, "per platform": {platforms: true}}
	indexes := map[string]name.Digest{}
	for practice, s := range practices {
		idx, plats := reg.PushIndex(t, "app/"+strings.ReplaceAll(practice, " ", "-")+":1", "linux/amd64", "linux/arm64/v8", "unknown/unknown")
		if s.index {
			testutil.SignLegacy(t, idx, key)
		}
		if s.platforms {
			testutil.SignLegacy(t, plats[0], key)
			testutil.SignLegacy(t, plats[1], key)
		}
		indexes[practice] = idx
	}
	options := map[string]string{
		"index":  "index",
		"all":    "all",
		"any-of": "{any-of: [linux/amd64, linux/arm64]}",
		"arm64":  "{any-of: [linux/arm64/v8]}",
		"s390x":  "{any-of: [linux/amd64, linux/s390x]}",
	}
	want := map[string]map[string]bool{
		"unsigned":     {},
		"index only":   {"index": true},
		"recursive":    {"index": true, "all": true, "any-of": true, "arm64": true},
		"per platform": {"any-of": true, "arm64": true},
	}
	for option, platforms := range options {
		eng := platformsEngine(t, key, h, platforms)
		for practice := range practices {
			t.Run(option+"/"+practice, func(t *testing.T) {
				t.Parallel()
				image := h + "/app/" + strings.ReplaceAll(practice, " ", "-") + ":1"
				d := eng.Evaluate(context.Background(), image)
				if d.Allowed != want[practice][option] {
					t.Fatalf("allowed = %v, want %v: %s", d.Allowed, want[practice][option], d.Reason)
				}
				idx := indexes[practice]
				if d.Digest != idx.DigestStr() {
					t.Errorf("digest %s, want the index's %s", d.Digest, idx.DigestStr())
				}
				if d.Allowed && d.Pinned != idx.Context().Name()+"@"+idx.DigestStr() {
					t.Errorf("pinned %s, want the index %s", d.Pinned, idx)
				}
				for _, p := range d.Platforms {
					if p.Platform == "unknown/unknown" {
						t.Errorf("the attestation manifest was verified: %+v", p)
					}
				}
				switch {
				case option == "s390x":
					if d.Outcome != verify.Failed || !strings.Contains(d.Reason, "no manifest for platform linux/s390x") {
						t.Errorf("outcome %s, reason %s: want failed naming linux/s390x", d.Outcome, d.Reason)
					}
				case !d.Allowed && option != "index":
					if d.Outcome != verify.Failed || !strings.Contains(d.Reason, "platform linux/") && !strings.Contains(d.Reason, "the index (sha256:") {
						t.Errorf("outcome %s, reason %s: want failed naming the platform or the index", d.Outcome, d.Reason)
					}
				case d.Allowed && option == "all":
					if len(d.Platforms) != 3 || d.Platforms[0].Platform != policy.PlatformIndex || d.Platforms[1].Platform != "linux/amd64" || d.Platforms[2].Platform != "linux/arm64/v8" {
						t.Errorf("platforms %+v, want index, linux/amd64, linux/arm64/v8", d.Platforms)
					}
				}
			})
		}
	}
}

// TestPlatformsImage: for an image that is one manifest, every choice
// verifies that manifest, and nothing more is fetched than for index.
func TestPlatformsImage(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	signed := reg.PushImage(t, "img/app:signed")
	testutil.SignLegacy(t, signed, key)
	reg.PushImage(t, "img/app:unsigned")
	for _, platforms := range []string{"index", "all", "{any-of: [linux/amd64]}", "{any-of: [linux/s390x]}"} {
		eng := platformsEngine(t, key, reg.Host, platforms)
		for image, allowed := range map[string]bool{"signed": true, "unsigned": false} {
			d := eng.Evaluate(context.Background(), reg.Host+"/img/app:"+image)
			if d.Allowed != allowed || len(d.Platforms) != 0 {
				t.Errorf("%s, %s: allowed %v, platforms %+v, want %v and none: %s", platforms, image, d.Allowed, d.Platforms, allowed, d.Reason)
			}
			if allowed && d.Pinned != signed.Context().Name()+"@"+signed.DigestStr() {
				t.Errorf("%s: pinned %s", platforms, d.Pinned)
			}
		}
	}
}

// TestPlatformsBound: an index of 1,000 manifests is refused, with the
// reason, without verifying any of them, and reading it costs memory in
// proportion to its (bounded) size, not to verifications. Not parallel:
// the memory measured is the process's.
func TestPlatformsBound(t *testing.T) {
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	im := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	for i := range 1000 {
		h, _, err := v1.SHA256(strings.NewReader(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		im.Manifests = append(im.Manifests, v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 1000, Digest: h, Platform: &v1.Platform{OS: "linux", Architecture: fmt.Sprintf("arch%d", i)}})
	}
	b, err := json.Marshal(im)
	if err != nil {
		t.Fatal(err)
	}
	// The registry would refuse an index of manifests it does not hold:
	// serve it as a registry holding them would.
	digest, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/v2/big/app/manifests/1" && r.URL.Path != "/v2/big/app/manifests/"+digest.String() {
			return false
		}
		w.Header().Set("Content-Type", string(types.OCIImageIndex))
		w.Header().Set("Docker-Content-Digest", digest.String())
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(b)
		}
		return true
	})
	for _, platforms := range []string{"all", "{any-of: [linux/arch7]}"} {
		eng := platformsEngine(t, key, reg.Host, platforms)
		reg.Reset()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		d := eng.Evaluate(context.Background(), reg.Host+"/big/app:1")
		runtime.ReadMemStats(&after)
		if d.Allowed || d.Outcome != verify.Failed || !strings.Contains(d.Reason, fmt.Sprintf("lists 1000 manifests; with.platforms verifies at most %d", policy.MaxPlatforms)) {
			t.Errorf("%s: allowed %v, outcome %s, reason %s", platforms, d.Allowed, d.Outcome, d.Reason)
		}
		for _, p := range reg.Paths() {
			if strings.Contains(p, ".sig") || strings.Contains(p, "referrers") {
				t.Errorf("%s: a signature was fetched for a refused index: %s", platforms, p)
			}
		}
		// The index is some 200 KB: the whole evaluation, reading it
		// (buffered) and counting its manifests among it, allocates about
		// five times that (1.1 MB measured); decoding its descriptors
		// doubled it, and a verification per manifest would be far more.
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: index %d bytes, %d bytes allocated, %d requests", platforms, len(b), alloc, reg.Requests())
		if alloc > 2<<20 {
			t.Errorf("%s: refusing the index allocated %d bytes, want under 2 MiB", platforms, alloc)
		}
	}
}

// TestPlatformsConcurrent: platform manifests are verified concurrently,
// at most PlatformConcurrency at once, within the request's deadline; a
// platform whose registry answers fail is inconclusive (not failed), and so
// is one still being verified at the deadline.
func TestPlatformsConcurrent(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	plats := []string{"linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/386", "linux/ppc64le", "linux/s390x", "linux/riscv64"}
	idx, digests := reg.PushIndex(t, "conc/app:1", plats...)
	testutil.SignLegacy(t, idx, key)
	for _, d := range digests {
		testutil.SignLegacy(t, d, key)
	}
	sigTag := func(d name.Digest) string { return strings.Replace(d.DigestStr(), ":", "-", 1) + ".sig" }
	eng := platformsEngine(t, key, reg.Host, "all")
	image := reg.Host + "/conc/app:1"

	// Each signature lookup takes 200ms: eight platforms and the index
	// one after another would take 1.8s.
	var inflight, most atomic.Int64
	var mu sync.Mutex
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ".sig") {
			n := inflight.Add(1)
			mu.Lock()
			most.Store(max(most.Load(), n))
			mu.Unlock()
			time.Sleep(200 * time.Millisecond)
			inflight.Add(-1)
		}
		return false
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	d := eng.Evaluate(ctx, image)
	took := time.Since(start)
	if !d.Allowed || len(d.Platforms) != len(plats)+1 {
		t.Fatalf("allowed %v, %d platforms: %s", d.Allowed, len(d.Platforms), d.Reason)
	}
	if m := most.Load(); m < 2 || m > policy.PlatformConcurrency {
		t.Errorf("%d signature lookups at once, want 2 to %d", m, policy.PlatformConcurrency)
	}
	if took > 1500*time.Millisecond {
		t.Errorf("took %v: not concurrent", took)
	}
	t.Logf("%d platforms in %v, at most %d at once", len(d.Platforms), took, most.Load())

	// The registry fails the signatures of linux/arm64: inconclusive,
	// naming it; the others verified.
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, sigTag(digests[1])) {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	d = platformsEngine(t, key, reg.Host, "all").Evaluate(context.Background(), image)
	if d.Allowed || d.Outcome != verify.Inconclusive || !strings.Contains(d.Reason, "platform linux/arm64 ("+digests[1].DigestStr()+")") {
		t.Errorf("allowed %v, outcome %s: %s\nwant inconclusive naming linux/arm64", d.Allowed, d.Outcome, d.Reason)
	}

	// linux/s390x hangs past the deadline: inconclusive, within it.
	reg.Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, sigTag(digests[6])) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return true
		}
		return false
	})
	ctx, cancel = context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start = time.Now()
	d = platformsEngine(t, key, reg.Host, "all").Evaluate(ctx, image)
	if d.Allowed || d.Outcome != verify.Inconclusive || !strings.Contains(d.Reason, "linux/s390x") {
		t.Errorf("allowed %v, outcome %s: %s\nwant inconclusive naming linux/s390x", d.Allowed, d.Outcome, d.Reason)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("took %v past a 1s deadline", took)
	}
}

// TestPlatformsCache: each manifest's verification is cached by its digest
// like any digest's, and what the index lists is remembered, so deciding
// on the image again asks the registry nothing.
func TestPlatformsCache(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	idx, plats := reg.PushIndex(t, "cached/app:1", "linux/amd64", "linux/arm64")
	for _, d := range append(plats, idx) {
		testutil.SignLegacy(t, d, key)
	}
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, platforms := range []string{"all", "{any-of: [linux/arm64]}"} {
		eng := compileCached(t, c, testutil.Policy(key.PEM, fmt.Sprintf("- {pattern: %q, validator: signed, with: {platforms: %s}}\n", reg.Host+"/**", platforms)))
		for i, wantCached := range []bool{false, true} {
			reg.Reset()
			d := eng.Evaluate(context.Background(), reg.Host+"/cached/app:1")
			if !d.Allowed || d.Cached != wantCached {
				t.Fatalf("%s, evaluation %d: allowed %v, cached %v, want cached %v: %s", platforms, i, d.Allowed, d.Cached, wantCached, d.Reason)
			}
			for _, p := range d.Platforms {
				if p.Cached != wantCached {
					t.Errorf("%s, evaluation %d: %s cached %v", platforms, i, p.Platform, p.Cached)
				}
			}
			if wantCached && reg.Requests() != 0 {
				t.Errorf("%s: %d registry requests for a cached result: %v", platforms, reg.Requests(), reg.Paths())
			}
		}
	}
}

// TestPlatformsAttestations: under all, attestation requirements hold for
// the index and for every platform manifest.
func TestPlatformsAttestations(t *testing.T) {
	t.Parallel()
	const slsa1 = "https://slsa.dev/provenance/v1"
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	eng := engine(t, key, fmt.Sprintf("- {pattern: %q, validator: signed, with: {platforms: all, attestations: [{name: built, type: slsaprovenance1}]}}\n", reg.Host+"/**"))
	for _, tc := range []struct {
		tag      string
		attested int // of the index, linux/amd64, linux/arm64: how many, in order
		allowed  bool
	}{
		{"every", 3, true},
		{"arm64-missing", 2, false},
	} {
		idx, plats := reg.PushIndex(t, "att/app:"+tc.tag, "linux/amd64", "linux/arm64")
		all := append([]name.Digest{idx}, plats...)
		for i, d := range all {
			testutil.SignLegacy(t, d, key)
			if i < tc.attested {
				testutil.AppendAttestation(t, d, key, testutil.StatementOf(slsa1, map[string]any{"builder": "ci"}, d), slsa1)
			}
		}
		d := eng.Evaluate(context.Background(), reg.Host+"/att/app:"+tc.tag)
		if d.Allowed != tc.allowed {
			t.Errorf("%s: allowed %v, want %v: %s", tc.tag, d.Allowed, tc.allowed, d.Reason)
		}
		if !tc.allowed && (d.Outcome != verify.Failed || !strings.Contains(d.Reason, "platform linux/arm64 ("+plats[1].DigestStr()+")") || strings.Contains(d.Reason, "linux/amd64")) {
			t.Errorf("%s: outcome %s, reason %s: want failed naming linux/arm64 only", tc.tag, d.Outcome, d.Reason)
		}
		if len(d.Attestations) != 3 {
			t.Errorf("%s: %d attestation results, want one per manifest", tc.tag, len(d.Attestations))
		}
	}
}

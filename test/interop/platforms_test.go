package interop

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

// crane runs the real crane CLI and returns its standard output, trimmed.
func crane(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(harness.Tool(t, "crane"), append(args, "--insecure")...)
	code, stdout, stderr := harness.ExitCode(t, cmd)
	if code != 0 {
		t.Fatalf("crane %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	return strings.TrimSpace(stdout)
}

// multiPlatform builds a multi-platform image at repo:tag as a release
// pipeline does with crane: one image per platform (its config saying
// which), then `crane index append` of them. It returns the index's digest
// and the platforms' (linux/amd64, then linux/arm64).
func multiPlatform(t *testing.T, host, repo, tag string) (name.Digest, []name.Digest) {
	t.Helper()
	var args []string
	var plats []name.Digest
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		arch := p[strings.IndexByte(p, '/')+1:]
		img := harness.Push(t, host, fmt.Sprintf("%s:%s-%s", repo, tag, arch))
		ref := crane(t, "mutate", "--set-platform", p, "-t", fmt.Sprintf("%s/%s:%s-%s", host, repo, tag, arch), img.String())
		d, err := name.NewDigest(ref)
		if err != nil {
			t.Fatalf("crane mutate printed %q: %v", ref, err)
		}
		args = append(args, "-m", d.String())
		plats = append(plats, d)
	}
	out := crane(t, append([]string{"index", "append", "-t", fmt.Sprintf("%s/%s:%s", host, repo, tag)}, args...)...)
	idx, err := name.NewDigest(out)
	if err != nil {
		t.Fatalf("crane index append printed %q: %v", out, err)
	}
	// The index lists each platform's manifest, with its platform.
	if got := harness.Platforms(t, idx); len(got) != 2 || got[0] != plats[0] || got[1] != plats[1] {
		t.Fatalf("index %s lists %v, want %v", idx, got, plats)
	}
	return idx, plats
}

// TestPlatforms: which with.platforms admits each signing practice of the
// real cosign on real multi-platform images, through the signature tag
// schema (cosign v2, a distribution registry) and the referrers API
// (cosign v3 bundles):
//
//	                 index   all   any-of [linux/amd64, linux/arm64]
//	unsigned         deny    deny  deny
//	index only       allow   deny  deny
//	--recursive      allow   allow allow
//	per platform     deny    deny  allow
//
// Allowed images are pinned to the index's digest; a denial names the
// platform (or the index) that is not signed.
func TestPlatforms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *harness.Proc
		sign  func(t *testing.T, c *harness.Cosign, key string, img name.Digest, recursive bool)
		bin   string
	}{
		{"signature tag schema, cosign v2", harness.StartDistribution, func(t *testing.T, c *harness.Cosign, key string, img name.Digest, recursive bool) {
			var extra []string
			if recursive {
				extra = append(extra, "--recursive")
			}
			c.SignV2(t, key, img, extra...)
		}, "cosign2"},
		{"referrers API, cosign v3 bundles", harness.StartReferrersRegistry, func(t *testing.T, c *harness.Cosign, key string, img name.Digest, recursive bool) {
			bin := harness.Tool(t, "cosign3")
			c.Run(t, bin, "signing-config", "create", "--out", "empty-signing-config.json")
			args := []string{"sign", "--yes", "--key", key, "--signing-config", "empty-signing-config.json", "--allow-insecure-registry", "--allow-http-registry"}
			if recursive {
				args = append(args, "--recursive")
			}
			c.Run(t, bin, append(args, img.String())...)
		}, "cosign3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := tc.start(t)
			h := reg.Host
			c := harness.NewCosign(t)
			key, pub := c.GenKey(t, harness.Tool(t, tc.bin), "k")

			practices := []string{"unsigned", "index-only", "recursive", "per-platform"}
			indexes := map[string]name.Digest{}
			platforms := map[string][]name.Digest{}
			for _, practice := range practices {
				idx, plats := multiPlatform(t, h, "multi/app", practice)
				switch practice {
				case "index-only":
					tc.sign(t, c, key, idx, false)
				case "recursive":
					tc.sign(t, c, key, idx, true)
				case "per-platform":
					for _, p := range plats {
						tc.sign(t, c, key, p, false)
					}
				}
				indexes[practice], platforms[practice] = idx, plats
			}

			want := map[string]map[string]bool{
				"index":  {"index-only": true, "recursive": true},
				"all":    {"recursive": true},
				"any-of": {"recursive": true, "per-platform": true},
			}
			for option, with := range map[string]string{
				"index":  "{platforms: index}",
				"all":    "{platforms: all}",
				"any-of": "{platforms: {any-of: [linux/amd64, linux/arm64]}}",
			} {
				var images []string
				for _, practice := range practices {
					images = append(images, h+"/multi/app:"+practice)
				}
				code, ds, se := signet(t, cosignPolicy(h+"/**", map[string]string{"k": pub}, with), images...)
				if len(ds) != len(practices) {
					t.Fatalf("%s: %d decisions (exit %d): %s", option, len(ds), code, se)
				}
				if code != 1 { // the unsigned image is denied under every option
					t.Errorf("%s: exit %d, want 1", option, code)
				}
				for i, practice := range practices {
					d := ds[i]
					t.Logf("%s × %s: allowed %v: %s", option, practice, d.Allowed, d.Reason)
					if d.Allowed != want[option][practice] {
						t.Errorf("%s × %s: allowed %v, want %v: %s", option, practice, d.Allowed, want[option][practice], d.Reason)
						continue
					}
					idx := indexes[practice]
					if d.Digest != idx.DigestStr() {
						t.Errorf("%s × %s: digest %s, want the index's %s", option, practice, d.Digest, idx.DigestStr())
					}
					if d.Allowed {
						if d.Outcome != verify.Verified || d.Pinned != h+"/multi/app@"+idx.DigestStr() {
							t.Errorf("%s × %s: outcome %s, pinned %s, want the index %s", option, practice, d.Outcome, d.Pinned, idx)
						}
						continue
					}
					if d.Outcome != verify.Failed {
						t.Errorf("%s × %s: outcome %s, want failed", option, practice, d.Outcome)
					}
					// A denial under all or any-of names what is unsigned.
					switch {
					case option == "index":
					case practice == "index-only" && !strings.Contains(d.Reason, "platform linux/amd64 ("+platforms[practice][0].DigestStr()+")"):
						t.Errorf("%s × %s: reason does not name linux/amd64: %s", option, practice, d.Reason)
					case practice == "per-platform" && !strings.Contains(d.Reason, "the index ("+idx.DigestStr()+")"):
						t.Errorf("%s × %s: reason does not name the index: %s", option, practice, d.Reason)
					}
				}
			}

			// A platform the index lacks is a denial naming it.
			code, ds, se := signet(t, cosignPolicy(h+"/**", map[string]string{"k": pub}, "{platforms: {any-of: [linux/amd64, linux/s390x]}}"), h+"/multi/app:recursive")
			d := one(t, ds)
			expect(t, code, d, se, 1, verify.Failed, indexes["recursive"].DigestStr())
			if !strings.Contains(d.Reason, "no manifest for platform linux/s390x (it has linux/amd64, linux/arm64)") {
				t.Errorf("reason: %s", d.Reason)
			}
			// A platform by digest is one image: every choice is itself.
			code, ds, se = signet(t, cosignPolicy(h+"/**", map[string]string{"k": pub}, "{platforms: all}"), platforms["per-platform"][1].String())
			expect(t, code, one(t, ds), se, 0, verify.Verified, platforms["per-platform"][1].DigestStr())
		})
	}
}

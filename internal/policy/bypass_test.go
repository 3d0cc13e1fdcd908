package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// TestBypassReferences: image references crafted to confuse matching or
// resolution — look-alike hosts, Docker Hub spellings, ports, case, a tag
// beside a digest, digests of other algorithms, very long names, unicode —
// and patterns that must match no more than they say. Each is denied or
// verified exactly as the policy says; nothing is allowed by a rule it
// does not belong to.
func TestBypassReferences(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	h := reg.Host
	signed := reg.PushImage(t, "acme/app:v1")
	testutil.SignLegacy(t, signed, key)
	unsigned := reg.PushImage(t, "acme/app:unsigned")
	debug := reg.PushImage(t, "acme/app:debug-1")
	testutil.SignLegacy(t, debug, key)
	sd, ud, dd := signed.DigestStr(), unsigned.DigestStr(), debug.DigestStr()

	eng := engine(t, key, `
- {pattern: "`+h+`/acme/**", validator: signed}
- {pattern: "`+h+`/acme/app:debug-*", validator: deny}
- {pattern: "ghcr.io/org/*", validator: allow}
- {pattern: "docker.io/library/nginx", validator: allow}
- {pattern: "registry.k8s.io/pause:3.*", validator: allow}
`)
	const (
		allowed = "allowed"
		noRule  = "no policy rule matches"
		invalid = "invalid image reference"
	)
	tests := []struct {
		image   string
		want    string // allowed, or a substring of the denial
		outcome verify.Outcome
	}{
		// Host look-alikes: only the exact registry matches.
		{"ghcr.io/org/app:v1", allowed, verify.Static},
		{"GHCR.IO/org/app:v1", allowed, verify.Static}, // host names are case-insensitive: the same registry
		{"ghcr.io.evil.com/org/app:v1", noRule, verify.Failed},
		{"evil.com/ghcr.io/org/app:v1", noRule, verify.Failed},
		{"ghcr.io./org/app:v1", invalid, verify.Failed},
		{"ghcr.io:443/org/app:v1", allowed, verify.Static}, // the default port: the same registry
		{"ghcr.io:80/org/app:v1", allowed, verify.Static},
		{"ghcr.io:0443/org/app:v1", allowed, verify.Static},
		{"ghcr.io:8443/org/app:v1", noRule, verify.Failed},
		{"xn--ghcr-io.com/org/app:v1", noRule, verify.Failed},
		{"ghcr.io/org.evil/app:v1", noRule, verify.Failed},
		{"ghcr.io/orgx/app:v1", noRule, verify.Failed},
		{"ghcr.io/org/app/sub:v1", noRule, verify.Failed}, // "*" stays within one path component
		{"ghcr.io/org/ORG:v1", invalid, verify.Failed},    // upper case is not a repository
		{"ghcr.io/ORG/app:v1", invalid, verify.Failed},

		// Docker Hub spellings all mean docker.io/library/nginx…
		{"nginx", allowed, verify.Static},
		{"nginx:1.25", allowed, verify.Static},
		{"library/nginx:1.25", allowed, verify.Static},
		{"docker.io/nginx:1.25", allowed, verify.Static},
		{"index.docker.io/library/nginx:1.25", allowed, verify.Static},
		{"registry-1.docker.io/library/nginx:1.25", allowed, verify.Static},
		{"DOCKER.IO/library/nginx:1.25", allowed, verify.Static},
		// …and nothing else does.
		{"nginx-evil:1.25", noRule, verify.Failed},
		{"evil/nginx:1.25", noRule, verify.Failed},
		{"library/nginx/sub:1.25", noRule, verify.Failed},
		{"docker.io.evil.com/library/nginx:1.25", noRule, verify.Failed},
		{"nginx.evil.com/library/nginx:1.25", noRule, verify.Failed},
		{"hub.docker.com/library/nginx:1.25", noRule, verify.Failed},

		// Tags in patterns: only what the glob says.
		{"registry.k8s.io/pause:3.9", allowed, verify.Static},
		{"registry.k8s.io/pause:4.0", noRule, verify.Failed},
		{"registry.k8s.io/pause:3.9/x", invalid, verify.Failed},
		{"registry.k8s.io/pause-evil:3.9", noRule, verify.Failed},

		// A tag beside a digest: the digest is what runs, so the digest is
		// what is verified; a tag pattern applies only when the tag names
		// that digest (docs/policy.md, "Which rule applies").
		{h + "/acme/app:v1@" + sd, allowed, verify.Verified},
		{h + "/acme/app:v1@" + ud, "no cosign signatures found", verify.Failed},
		{h + "/acme/app:unsigned@" + sd, allowed, verify.Verified},
		{h + "/acme/app:debug-1@" + dd, "denied by static", verify.Static}, // the debug build, signed, is denied…
		{h + "/acme/app:debug-1", "denied by static", verify.Static},
		{h + "/acme/app:debug-1@" + sd, allowed, verify.Verified}, // …but a tag beside another digest is not what runs
		{h + "/acme/app:debug-2@" + dd, allowed, verify.Verified}, // and a tag pattern never matches content by digest
		{h + "/acme/app@" + dd, allowed, verify.Verified},
		{h + "/acme/app@" + sd, allowed, verify.Verified},
		{h + "/acme/app:V1", "not found", verify.Failed}, // tags are case-sensitive: another tag

		// Digests of other algorithms and malformed digests.
		{h + "/acme/app@sha512:" + strings.Repeat("ab", 64), "no cosign signatures found", verify.Failed},
		{h + "/acme/app@md5:" + strings.Repeat("ab", 16), invalid, verify.Failed},
		{h + "/acme/app@sha256:" + strings.Repeat("a", 63), invalid, verify.Failed},
		{h + "/acme/app@sha256:" + strings.ToUpper(sd[7:]), invalid, verify.Failed},
		{h + "/acme/app@" + sd + "@" + sd, invalid, verify.Failed},

		// Ports are part of the registry, as numbers.
		{strings.Replace(h, ":", ":0", 1) + "/acme/app:v1", allowed, verify.Verified},
		{"127.0.0.1:1/acme/app:v1", noRule, verify.Failed},
		{"localhost/acme/app:v1", noRule, verify.Failed},

		// Very long names and unicode never reach matching.
		{"ghcr.io/org/" + strings.Repeat("a", 600), invalid, verify.Failed},
		{"ghcr.io/org/app:" + strings.Repeat("t", 129), invalid, verify.Failed},
		{"ghcr.io/org/аpp:v1", invalid, verify.Failed}, // Cyrillic а
		{"ghcr.іo/org/app:v1", invalid, verify.Failed}, // Cyrillic і in the host
		{"ｇhcr.io/org/app:v1", invalid, verify.Failed},
		{"ghcr.io/org/app:v1\u200b", invalid, verify.Failed},
		{"ghcr.io/org/app:v1\x00", invalid, verify.Failed},
		{" ghcr.io/org/app:v1", invalid, verify.Failed},
		{"ghcr.io/org//app:v1", invalid, verify.Failed},
		{"ghcr.io/org/../app:v1", invalid, verify.Failed},
		{"https://ghcr.io/org/app:v1", invalid, verify.Failed},
	}
	for _, tc := range tests {
		t.Run(tc.image, func(t *testing.T) {
			t.Parallel()
			d := eng.Evaluate(context.Background(), tc.image)
			if tc.want == allowed {
				if !d.Allowed || d.Outcome != tc.outcome {
					t.Fatalf("denied (%s), want allowed (%s): %s", d.Outcome, tc.outcome, d.Reason)
				}
				return
			}
			if d.Allowed || d.Outcome != tc.outcome || !strings.Contains(d.Reason, tc.want) {
				t.Errorf("allowed=%v outcome %s: %s\nwant denied, %s, saying %q", d.Allowed, d.Outcome, d.Reason, tc.outcome, tc.want)
			}
		})
	}
}

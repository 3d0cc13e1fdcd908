package policy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// TestWhichRuleApplies: every spelling of an image — tag, digest,
// tag@digest with the tag's digest or another, a tag naming a denied
// digest, the registry written other ways — gets the rule that applies to
// the content that runs, through Engine.Evaluate against a registry.
func TestWhichRuleApplies(t *testing.T) {
	t.Parallel()
	f := testutil.NewSpellings(t)
	eng := compileYAML(t, f.Policy)
	for _, tc := range f.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			d := eng.Evaluate(context.Background(), tc.Image)
			if d.Rule != tc.Rule || d.Allowed != tc.Allowed || string(d.Outcome) != tc.Outcome {
				t.Fatalf("rule %q allowed=%v %s, want rule %q allowed=%v %s; reason: %s", d.Rule, d.Allowed, d.Outcome, tc.Rule, tc.Allowed, tc.Outcome, d.Reason)
			}
			if tc.Digest != "" && d.Digest != tc.Digest {
				t.Errorf("digest %s, want %s", d.Digest, tc.Digest)
			}
			// An allowed image is pinned to what was decided on: for a
			// static allow that depended on what the tag names, too.
			if d.Allowed && d.Pinned != f.Repo+"@"+tc.Digest {
				t.Errorf("pinned %q, want %s@%s", d.Pinned, f.Repo, tc.Digest)
			}
			if !d.Allowed && d.Pinned != "" {
				t.Errorf("denied, but pinned %q", d.Pinned)
			}
		})
	}
}

// TestWhichRuleAppliesCost: a digest rule costs one tag resolution, shared
// with the verification that follows it; static rules for repositories no
// digest rule names still decide without the network.
func TestWhichRuleAppliesCost(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	img := reg.PushImage(t, "acme/app:v1")
	testutil.SignLegacy(t, img, key)
	denied := "sha256:" + strings.Repeat("0", 64)
	rules := `
- {pattern: "` + reg.Host + `/acme/*", validator: signed}
- {pattern: "` + reg.Host + `/static/**", validator: allow}
- {pattern: "` + reg.Host + `/static/app:debug", validator: deny}
`
	plain, withDigest := engine(t, key, rules), engine(t, key, rules+`- {pattern: "`+reg.Host+`/acme/app@`+denied+`", validator: deny}
- {pattern: "**@`+denied+`", validator: deny}
`)
	requests := func(eng *policy.Engine, image string) int64 {
		reg.Reset()
		if d := eng.Evaluate(context.Background(), image); !d.Allowed {
			t.Fatalf("%s denied: %s", image, d.Reason)
		}
		return reg.Requests()
	}
	if a, b := requests(plain, reg.Host+"/acme/app:v1"), requests(withDigest, reg.Host+"/acme/app:v1"); a != b {
		t.Errorf("verifying a tag: %d registry requests, %d with digest rules", a, b)
	}
	if n := requests(plain, reg.Host+"/static/app:v1"); n != 0 {
		t.Errorf("a static rule made %d requests", n)
	}
	if n := requests(withDigest, reg.Host+"/static/app@"+img.DigestStr()); n != 0 {
		t.Errorf("a static rule for a digest made %d requests", n)
	}
	// "**@digest" names a digest in every repository: tags there are
	// resolved to decide, even under a static rule, and pinned to what
	// was decided on.
	static := reg.PushImage(t, "static/app:v1")
	if n := requests(withDigest, reg.Host+"/static/app:v1"); n == 0 {
		t.Error("a tag was allowed without learning whether it names a denied digest")
	}
	if d := withDigest.Evaluate(context.Background(), reg.Host+"/static/app:v1"); d.Pinned != reg.Host+"/static/app@"+static.DigestStr() {
		t.Errorf("static allow after resolving: pinned %q, want the resolved digest", d.Pinned)
	}
	// A tag that names nothing cannot be pinned: the static allow, which
	// holds only for some digests, does not admit it.
	if d := withDigest.Evaluate(context.Background(), reg.Host+"/static/app:missing"); d.Allowed || d.Outcome != verify.Failed || !strings.Contains(d.Reason, "only for some digests") {
		t.Errorf("static allow of a tag naming nothing: allowed=%v %s: %s", d.Allowed, d.Outcome, d.Reason)
	}
}

// TestWhichRuleAppliesUnknown: when the rule depends on what the tag names
// and that cannot be learnt, the image is denied as inconclusive — never
// decided by a less specific rule.
func TestWhichRuleAppliesUnknown(t *testing.T) {
	t.Parallel()
	f := testutil.NewSpellings(t)
	eng := compileYAML(t, f.Policy)
	f.Reg.SetDown(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, img := range []string{f.Repo + ":v1", f.Repo + ":v1@" + f.Good} {
		d := eng.Evaluate(ctx, img)
		if d.Allowed || d.Outcome != verify.Inconclusive || !strings.Contains(d.Reason, "depends on what its tag names") {
			t.Errorf("%s: allowed=%v %s: %s", img, d.Allowed, d.Outcome, d.Reason)
		}
	}
	// A digest needs nothing resolved: decided as usual.
	if d := eng.Evaluate(ctx, f.Repo+"@"+f.Bad); d.Allowed || d.Rule != f.DigestRule {
		t.Errorf("denied digest: allowed=%v rule %q: %s", d.Allowed, d.Rule, d.Reason)
	}
}

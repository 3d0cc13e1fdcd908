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

// spellingFixture is a registry holding one repository whose tags name
// content of every kind, and a policy with a rule of each kind for it: the
// table of docs/policy.md's "Which rule applies".
type spellingFixture struct {
	reg *testutil.Registry
	eng *policy.Engine
	// repo is registry/acme/app; good is signed and v1's, bad signed but
	// denied by digest and v2's, other signed and v3's, unsigned is not
	// signed and is v4's.
	repo                          string
	good, bad, other, unsigned    string
	repoRule, tagRule, digestRule string
}

func newSpellingFixture(t testing.TB) *spellingFixture {
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	f := &spellingFixture{reg: reg, repo: reg.Host + "/acme/app"}
	push := func(tag string, sign bool) string {
		d := reg.PushImage(t, "acme/app:"+tag)
		if sign {
			testutil.SignLegacy(t, d, key)
		}
		return d.DigestStr()
	}
	f.good, f.bad, f.other, f.unsigned = push("v1", true), push("v2", true), push("v3", true), push("v4", false)
	f.repoRule = reg.Host + "/acme/*"              // every image of acme must be signed…
	f.tagRule = reg.Host + "/acme/app:v1"          // …v1 is allowed as it is (static)…
	f.digestRule = reg.Host + "/acme/app@" + f.bad // …and bad never runs, whatever it is called
	f.eng = engine(t, key, `
- {pattern: "`+f.repoRule+`", validator: signed}
- {pattern: "`+f.tagRule+`", validator: allow}
- {pattern: "`+f.digestRule+`", validator: deny}
`)
	return f
}

// spellingCase is one row of the table: a spelling, the rule that must
// apply, and the decision.
type spellingCase struct {
	name    string
	image   string
	rule    string
	allowed bool
	outcome verify.Outcome
	digest  string // the digest decided on (and pinned when allowed)
}

func (f *spellingFixture) cases() []spellingCase {
	r := f.repo
	return []spellingCase{
		// A tag: the tag pattern applies to its own tag; the digest
		// pattern to a tag that names its digest.
		{"tag matching a tag pattern", r + ":v1", f.tagRule, true, verify.Static, f.good},
		{"tag naming a denied digest", r + ":v2", f.digestRule, false, verify.Static, ""},
		{"tag of another signed digest", r + ":v3", f.repoRule, true, verify.Verified, f.other},
		{"tag of an unsigned digest", r + ":v4", f.repoRule, false, verify.Failed, f.unsigned},
		// A digest: tag patterns never apply; a digest pattern applies to
		// its digest.
		{"digest of the tag pattern's tag", r + "@" + f.good, f.repoRule, true, verify.Verified, f.good},
		{"denied digest", r + "@" + f.bad, f.digestRule, false, verify.Static, ""},
		{"unsigned digest", r + "@" + f.unsigned, f.repoRule, false, verify.Failed, f.unsigned},
		// tag@digest with the tag's own digest: as the tag.
		{"tag@its digest, tag pattern", r + ":v1@" + f.good, f.tagRule, true, verify.Static, f.good},
		{"tag@its digest, denied digest", r + ":v2@" + f.bad, f.digestRule, false, verify.Static, ""},
		{"tag@its digest, repository pattern", r + ":v3@" + f.other, f.repoRule, true, verify.Verified, f.other},
		// tag@digest with another digest: the digest runs, so the tag's
		// pattern does not apply and the digest's rule does.
		{"tag@another digest: the static allow of the tag does not apply", r + ":v1@" + f.unsigned, f.repoRule, false, verify.Failed, f.unsigned},
		{"tag@another, signed digest", r + ":v1@" + f.other, f.repoRule, true, verify.Verified, f.other},
		{"tag@the denied digest", r + ":v3@" + f.bad, f.digestRule, false, verify.Static, ""},
		{"unknown tag@the denied digest", r + ":nope@" + f.bad, f.digestRule, false, verify.Static, ""},
		{"tag of the tag pattern@the denied digest", r + ":v1@" + f.bad, f.digestRule, false, verify.Static, ""},
		// Registry spellings of the same (item 4): the same rules.
		{"tag naming a denied digest, default port", strings.Replace(r, ":", ":0", 1) + ":v2", f.digestRule, false, verify.Static, ""},
		{"tag naming a denied digest, IPv4 spelt as one number", "2130706433" + strings.TrimPrefix(r, "127.0.0.1") + ":v2", f.digestRule, false, verify.Static, ""},
		{"tag naming a denied digest, IPv4-mapped IPv6", "[::ffff:7f00:1]" + strings.TrimPrefix(r, "127.0.0.1") + ":v2", f.digestRule, false, verify.Static, ""},
		{"tag pattern, IPv4 spelt short", "127.1" + strings.TrimPrefix(r, "127.0.0.1") + ":v1", f.tagRule, true, verify.Static, f.good},
	}
}

// TestWhichRuleApplies: every spelling of an image — tag, digest,
// tag@digest with the tag's digest or another — gets the rule that applies
// to the content that runs, through Engine.Evaluate against a registry.
func TestWhichRuleApplies(t *testing.T) {
	t.Parallel()
	f := newSpellingFixture(t)
	for _, tc := range f.cases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := f.eng.Evaluate(context.Background(), tc.image)
			checkSpelling(t, tc, d.Rule, d.Allowed, d.Outcome, d.Digest, d.Pinned, d.Reason)
		})
	}
}

func checkSpelling(t *testing.T, tc spellingCase, rule string, allowed bool, outcome verify.Outcome, digest, pinned, reason string) {
	t.Helper()
	if rule != tc.rule || allowed != tc.allowed || outcome != tc.outcome {
		t.Fatalf("rule %q allowed=%v %s, want rule %q allowed=%v %s; reason: %s", rule, allowed, outcome, tc.rule, tc.allowed, tc.outcome, reason)
	}
	if tc.digest != "" && digest != tc.digest {
		t.Errorf("digest %s, want %s", digest, tc.digest)
	}
	// An allowed image is pinned to what was decided on: for a static
	// allow that depended on what the tag names, too.
	if allowed && !strings.HasSuffix(pinned, "/acme/app@"+tc.digest) {
		t.Errorf("pinned %q, want …/acme/app@%s", pinned, tc.digest)
	}
	if !allowed && pinned != "" {
		t.Errorf("denied, but pinned %q", pinned)
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
}

// TestWhichRuleAppliesUnknown: when the rule depends on what the tag names
// and that cannot be learnt, the image is denied as inconclusive — never
// decided by a less specific rule.
func TestWhichRuleAppliesUnknown(t *testing.T) {
	t.Parallel()
	f := newSpellingFixture(t)
	f.reg.SetDown(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, img := range []string{f.repo + ":v1", f.repo + ":v1@" + f.good} {
		d := f.eng.Evaluate(ctx, img)
		if d.Allowed || d.Outcome != verify.Inconclusive || !strings.Contains(d.Reason, "depends on what its tag names") {
			t.Errorf("%s: allowed=%v %s: %s", img, d.Allowed, d.Outcome, d.Reason)
		}
	}
	// A digest needs nothing resolved: decided as usual.
	if d := f.eng.Evaluate(ctx, f.repo+"@"+f.bad); d.Allowed || d.Rule != f.digestRule {
		t.Errorf("denied digest: allowed=%v rule %q: %s", d.Allowed, d.Rule, d.Reason)
	}
}

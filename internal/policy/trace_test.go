package policy_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// TestExplainIsTheDecision: Explain's decision is Evaluate's and
// EvaluateFor's, for an engine from Compile and one from CompileSet:
// tracing records the decision, it does not make another.
func TestExplainIsTheDecision(t *testing.T) {
	t.Parallel()
	reg, key, signed := signedImage(t)
	h := reg.Host
	reg.PushImage(t, "demo/unsigned:v1")
	file := engine(t, key, `- {pattern: "`+h+`/demo/**", validator: signed}
- {pattern: "`+h+`/demo/unsigned@`+signed.DigestStr()+`", validator: allow}
- {pattern: "docker.io/**", validator: allow}
`)
	insecure := "insecureRegistries: [" + h + "]\n"
	set, errs := compileSet(t, []obj{
		cip("base", insecure+"validators:\n"+cosignValidator("default", key.PEM)+"rules:\n- {pattern: \""+h+"/demo/**\"}\n- {pattern: \""+h+"/team/**\", validator: namespace}\n"),
		cip("also", "validators:\n"+cosignValidator("default", key.PEM)+"rules:\n- {pattern: \""+h+"/demo/**\"}\n"),
		ip("team-a", "keys", "validators:\n- {name: ok, type: static, approve: true}\nrules:\n- {pattern: \""+h+"/**\", validator: ok}\n"),
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	images := []string{h + "/demo/app:v1", h + "/demo/unsigned:v1", signed.String(), "nginx", "quay.io/x/y:1", "Not A Reference", h + "/team/app:v1"}
	for _, img := range images {
		for _, ns := range []string{"", "team-a"} {
			ctx := context.Background()
			for name, eng := range map[string]*policy.Engine{"file": file, "set": set} {
				want := eng.EvaluateFor(ctx, ns, img)
				if ns == "" || name == "file" {
					want = eng.Evaluate(ctx, img)
				}
				tr := eng.Explain(ctx, ns, img)
				if !reflect.DeepEqual(tr.Decision, want) {
					t.Errorf("%s %q in %q: Explain decided\n%+v\nEvaluate\n%+v", name, img, ns, tr.Decision, want)
				}
				if len(tr.Verifications) == 0 && want.Outcome != verify.Static && want.Reference != "" && want.Rule != "" && !strings.Contains(want.Reason, "delegates") {
					t.Errorf("%s %q in %q: no verification recorded for %+v", name, img, ns, want)
				}
			}
		}
	}
}

// TestExplainRules: every matching rule is recorded, across the policy
// objects, with why each did or did not decide; the digest with where it
// came from; each rule's verification with its checks.
func TestExplainRules(t *testing.T) {
	t.Parallel()
	reg, key, img := signedImage(t)
	h := reg.Host
	other := reg.PushImage(t, "demo/other:v1")
	insecure := "insecureRegistries: [" + h + "]\n"
	eng, errs := compileSet(t, []obj{
		cip("base", insecure+"validators:\n"+cosignValidator("default", key.PEM)+"- {name: deny, type: static, approve: false}\n- {name: ok, type: static, approve: true}\n"+
			"rules:\n- {pattern: \""+h+"/demo/app\"}\n- {pattern: \""+h+"/demo/**\", validator: deny}\n- {pattern: \""+h+"/demo/app@"+other.DigestStr()+"\", validator: ok}\n"),
		cip("security", "validators:\n"+cosignValidator("default", key.PEM)+"rules:\n- {pattern: \""+h+"/demo/app\"}\n- {pattern: \""+h+"/demo/ap?\"}\n"),
		ip("team-a", "keys", "validators:\n"+cosignValidator("default", key.PEM)+"rules:\n- {pattern: \""+h+"/demo/*\"}\n- {pattern: \"**\"}\n"),
	})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	tr := eng.Explain(context.Background(), "team-a", h+"/demo/app:v1")
	if !tr.Decision.Allowed || tr.Decision.Outcome != verify.Verified {
		t.Fatalf("decision %+v", tr.Decision)
	}
	if r := tr.Reference; r == nil || r.Registry != h || r.Repository != "demo/app" || r.Tag != "v1" || r.Digest != "" {
		t.Errorf("reference %+v", tr.Reference)
	}
	type want struct {
		object, pattern string
		chosen          bool
		why             string
	}
	wants := []want{
		{"base", h + "/demo/app@" + other.DigestStr(), false, "does not apply to the content that runs: names digest " + other.DigestStr() + ", and " + img.DigestStr() + " runs"},
		{"base", h + "/demo/app", true, "the most specific pattern that applies; the equally specific rules of other objects take part too"},
		{"security", h + "/demo/app", true, `as specific as "` + h + `/demo/app", in another policy object`},
		{"security", h + "/demo/ap?", false, `less specific than "` + h + `/demo/app": a longer literal prefix`},
		{"base", h + "/demo/**", false, `less specific than "` + h + `/demo/app": a longer literal prefix`},
		{"keys", h + "/demo/*", true, "the most specific pattern that applies"},
		{"keys", "**", false, `less specific than "` + h + `/demo/*": more path components`},
	}
	if len(tr.Rules) != len(wants) {
		t.Fatalf("%d rules recorded, want %d: %+v", len(tr.Rules), len(wants), tr.Rules)
	}
	for i, w := range wants {
		r := tr.Rules[i]
		if r.Object == nil || r.Object.Name != w.object || r.Pattern != w.pattern || r.Chosen != w.chosen || !strings.HasPrefix(r.Why, w.why) {
			t.Errorf("rule %d: %+v (object %v), want %+v", i, r, r.Object, w)
		}
	}
	if got := tr.Rules[0].Specificity; !got.Digest || got.Components != 3 {
		t.Errorf("specificity of a digest pattern: %+v", got)
	}
	if len(tr.Digests) != 1 || tr.Digests[0].Source != policy.DigestFromRegistry || tr.Digests[0].Digest != img.DigestStr() {
		t.Errorf("digests %+v, want one from the registry", tr.Digests)
	}
	if len(tr.Verifications) != 3 {
		t.Fatalf("%d verifications, want 3 (two cluster rules that tie, the namespace's)", len(tr.Verifications))
	}
	// By digest: three rules check the digest the reference gives, which
	// is one fact, recorded once.
	if byDigest := eng.Explain(context.Background(), "team-a", img.String()); len(byDigest.Digests) != 1 ||
		byDigest.Digests[0].Source != policy.DigestFromReference || len(byDigest.Verifications) != 3 || !byDigest.Decision.Allowed {
		t.Errorf("by digest: digests %+v, %d verifications, decision %+v", byDigest.Digests, len(byDigest.Verifications), byDigest.Decision)
	}
	for _, v := range tr.Verifications {
		if !v.Allowed || v.Type != policy.TypeCosign || len(v.Checks) == 0 {
			t.Errorf("verification %+v", v)
		}
		for _, c := range v.Checks {
			if c.Passed && (c.Kind != verify.KindSignature || c.Source != verify.SourceSigTag || c.TrustRoot != "k") {
				t.Errorf("check %+v", c)
			}
		}
	}
}

// TestExplainDigestSource: where the digest came from — the reference, the
// registry, then the tag cache.
func TestExplainDigestSource(t *testing.T) {
	t.Parallel()
	reg, key, img := signedImage(t)
	c, err := cache.New(cache.Config{Metrics: metrics.New()})
	if err != nil {
		t.Fatal(err)
	}
	eng := compileCached(t, c, testutil.Policy(key.PEM, `- {pattern: "`+reg.Host+`/**", validator: signed}`))
	ctx := context.Background()
	for _, tc := range []struct {
		image, source string
		cached        bool
	}{
		{img.String(), policy.DigestFromReference, false},
		{reg.Host + "/demo/app:v1", policy.DigestFromRegistry, true},
		{reg.Host + "/demo/app:v1", policy.DigestFromCache, true},
	} {
		tr := eng.Explain(ctx, "", tc.image)
		if !tr.Decision.Allowed || len(tr.Digests) != 1 || tr.Digests[0].Source != tc.source || tr.Digests[0].Digest != img.DigestStr() {
			t.Errorf("%s: %+v, digests %+v; want the digest from %s", tc.image, tr.Decision, tr.Digests, tc.source)
		}
		if len(tr.Verifications) != 1 || tr.Verifications[0].Cached != tc.cached {
			t.Errorf("%s: verifications %+v, want cached %v", tc.image, tr.Verifications, tc.cached)
		}
	}
}

// signedImage starts a registry holding demo/app:v1, signed with a new key.
func signedImage(t *testing.T) (*testutil.Registry, *testutil.Key, name.Digest) {
	t.Helper()
	reg := testutil.NewRegistry(t, false)
	key := testutil.NewKey(t)
	img := reg.PushImage(t, "demo/app:v1")
	testutil.SignLegacy(t, img, key)
	return reg, key, img
}

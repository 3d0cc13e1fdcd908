package policy_test

import (
	"context"
	"testing"

	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// TestCacheAcrossReloads: a reload that keeps a rule keeps its cached
// results; one that changes the rule or its validator verifies again.
func TestCacheAcrossReloads(t *testing.T) {
	t.Parallel()
	key, other := testutil.NewKey(t), testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	img := reg.PushImage(t, "demo/app:v1")
	testutil.SignLegacy(t, img, key)
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	compile := func(y string) *policy.Engine {
		t.Helper()
		doc, err := policy.Parse([]byte(y))
		if err != nil {
			t.Fatal(err)
		}
		eng, err := policy.Compile(doc, registry.MustNew(), policy.WithCache(c))
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	rule := `- {pattern: "` + reg.Host + `/demo/**", validator: signed}`
	ref := reg.Ref(t, "demo/app:v1").String()
	steps := []struct {
		name       string
		policy     string
		want       verify.Outcome
		wantCached bool
	}{
		{"first evaluation", testutil.Policy(key.PEM, rule), verify.Verified, false},
		{"same policy reloaded", testutil.Policy(key.PEM, rule), verify.Verified, true},
		{"another rule elsewhere added", testutil.Policy(key.PEM, rule+"\n- {pattern: \"other.example/**\", validator: allow}"), verify.Verified, true},
		{"trust root's key changed", testutil.Policy(other.PEM, rule), verify.Failed, false},
		{"rule's options changed", testutil.Policy(key.PEM, `- {pattern: "`+reg.Host+`/demo/**", validator: signed, with: {mode: warn}}`), verify.Verified, false},
	}
	for _, s := range steps {
		reg.Reset()
		d := compile(s.policy).Evaluate(context.Background(), ref)
		if d.Outcome != s.want || d.Cached != s.wantCached {
			t.Errorf("%s: outcome %s cached %v, want %s cached %v (%s)", s.name, d.Outcome, d.Cached, s.want, s.wantCached, d.Reason)
		}
		if s.wantCached && reg.Requests() != 0 {
			t.Errorf("%s: %d registry requests for a cached result", s.name, reg.Requests())
		}
	}
}

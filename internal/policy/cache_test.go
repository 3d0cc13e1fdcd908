package policy_test

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

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
	compile := func(y string) *policy.Engine { return compileCached(t, c, y) }
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

// TestAttestationCache: a change to an attestation requirement, its CEL or
// the validator that signs attestations verifies again; a condition reading
// the image keys the cache on the tag.
func TestAttestationCache(t *testing.T) {
	t.Parallel()
	key, other := testutil.NewKey(t), testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	img := reg.PushImage(t, "demo/app:v1")
	desc, err := remote.Get(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(reg.Ref(t, "demo/app:v2").(name.Tag), desc); err != nil { // the same content under another tag
		t.Fatal(err)
	}
	testutil.SignLegacy(t, img, key)
	testutil.AppendAttestation(t, img, key, testutil.StatementOf("https://example.com/p/v1", map[string]any{"ok": true}, img), "https://example.com/p/v1")
	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	policyWith := func(attestor, cond string) string {
		return `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
insecureRegistries: [` + reg.Host + `]
validators:
- name: signed
  type: cosign
  trustRoots:
  - name: ci
    key: |
      ` + testutil.Indent(key.PEM, 6) + `
- name: attestors
  type: cosign
  trustRoots:
  - name: a
    key: |
      ` + testutil.Indent(attestor, 6) + `
rules:
- pattern: "` + reg.Host + `/demo/**"
  validator: signed
  with:
    attestations:
    - {name: p, type: "https://example.com/p/v1", validator: attestors, conditions: [{expression: '` + cond + `'}]}
`
	}
	compile := func(y string) *policy.Engine { return compileCached(t, c, y) }
	v1, v2 := reg.Ref(t, "demo/app:v1").String(), reg.Ref(t, "demo/app:v2").String()
	steps := []struct {
		name       string
		policy     string
		ref        string
		want       verify.Outcome
		wantCached bool
	}{
		{"first evaluation", policyWith(key.PEM, "predicate.ok"), v1, verify.Verified, false},
		{"same policy reloaded", policyWith(key.PEM, "predicate.ok"), v1, verify.Verified, true},
		{"another tag of the digest", policyWith(key.PEM, "predicate.ok"), v2, verify.Verified, true},
		{"condition changed", policyWith(key.PEM, "!predicate.ok"), v1, verify.Failed, false},
		{"attestor's key changed", policyWith(other.PEM, "predicate.ok"), v1, verify.Failed, false},
		{"condition reads the tag", policyWith(key.PEM, `image.tag == "v1"`), v1, verify.Verified, false},
		{"it answers for the other tag anew", policyWith(key.PEM, `image.tag == "v1"`), v2, verify.Failed, false},
	}
	for _, s := range steps {
		d := compile(s.policy).Evaluate(context.Background(), s.ref)
		if d.Outcome != s.want || d.Cached != s.wantCached {
			t.Errorf("%s: outcome %s cached %v, want %s cached %v (%s)", s.name, d.Outcome, d.Cached, s.want, s.wantCached, d.Reason)
		}
	}
}

// compileCached compiles policy y with results remembered in c.
func compileCached(t *testing.T, c *cache.Cache, y string) *policy.Engine {
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

package policy_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policy/v1alpha1"
	"github.com/signet-dev/signet/internal/registry"
)

// TestDocCombineExample: the worked example of docs/policy.md's "How they
// combine" lints, compiles as a set, and the rules its table says take
// part in each decision are those that do; the denials it quotes are
// those given.
func TestDocCombineExample(t *testing.T) {
	t.Parallel()
	sec := docSection(t, "### How they combine")
	var set policy.Set
	for _, b := range yamlBlock.FindAllStringSubmatch(sec, -1) {
		if r := policy.Lint([]byte(b[1])); !r.Valid() {
			t.Fatalf("signet policy lint: %v\n%s", r.Errors, b[1])
		}
		var o policy.Object
		if strings.Contains(b[1], "kind: ClusterImagePolicy") {
			var c v1alpha1.ClusterImagePolicy
			if err := yaml.UnmarshalStrict([]byte(b[1]), &c); err != nil {
				t.Fatal(err)
			}
			o = policy.Object{Ref: policy.ObjectRef{Kind: policy.KindCluster, Name: c.Name}, Doc: c.Document()}
		} else {
			var c v1alpha1.ImagePolicy
			if err := yaml.UnmarshalStrict([]byte(b[1]), &c); err != nil {
				t.Fatal(err)
			}
			o = policy.Object{Ref: policy.ObjectRef{Kind: policy.Kind, Namespace: c.Namespace, Name: c.Name}, Doc: c.Document()}
		}
		set.Objects = append(set.Objects, o)
	}
	if len(set.Objects) != 4 {
		t.Fatalf("%d objects, want two ClusterImagePolicies and two ImagePolicies", len(set.Objects))
	}
	eng, errs := policy.CompileSet(set, registry.MustNew(), policy.WithKeySecrets(secretMap{}))
	if errs != nil {
		t.Fatal(errs)
	}
	// No verification is made: the rules that take part are chosen before
	// anything is read, and what the docs quote is decided without the
	// network.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		image, ns string
		rules     []string // object/pattern
		reason    string   // team-b's is quoted by the docs
	}{
		{"ghcr.io/acme/base/runtime:1", "team-a", []string{"platform/ghcr.io/acme/**", "security/ghcr.io/acme/**"}, ""},
		{"ghcr.io/acme/base/runtime:1", "team-b", []string{"platform/ghcr.io/acme/**", "security/ghcr.io/acme/**", "team-b/keys/ghcr.io/acme/base/**"}, ""},
		{"ghcr.io/acme/teams/team-a/api:2", "team-a", []string{"platform/ghcr.io/acme/teams/**", "team-a/keys/ghcr.io/acme/teams/team-a/**"}, ""},
		{"ghcr.io/acme/teams/team-a/api:2", "team-b", []string{"platform/ghcr.io/acme/teams/**"},
			`ClusterImagePolicy "platform" rule "ghcr.io/acme/teams/**" (validator "namespace") delegates the images it matches to the ImagePolicies of namespace "team-b", and none of them has a rule matching ghcr.io/acme/teams/team-a/api:2`},
		{"ghcr.io/acme/teams/team-a/api:2", "team-c", []string{"platform/ghcr.io/acme/teams/**"}, `namespace "team-c", and none of them has a rule matching`},
		{"docker.io/library/nginx:1.27", "team-a", nil, "no cluster policy rule matches"},
	}
	for _, tc := range tests {
		d := eng.EvaluateFor(ctx, tc.ns, tc.image)
		var rules []string
		for _, r := range d.Rules {
			rules = append(rules, strings.TrimPrefix(r.Object.Namespace+"/", "/")+r.Object.Name+"/"+r.Rule)
		}
		if !slices.Equal(rules, tc.rules) {
			t.Errorf("%s in %s: rules %v, want %v", tc.image, tc.ns, rules, tc.rules)
		}
		if d.Allowed || !strings.Contains(d.Reason, tc.reason) {
			t.Errorf("%s in %s: %q, want a denial with %q", tc.image, tc.ns, d.Reason, tc.reason)
		}
		if tc.ns == "team-b" && tc.reason != "" && !strings.Contains(sec, tc.reason) {
			t.Errorf("docs do not quote %q", tc.reason)
		}
	}
}

// docSection returns the text of docs/policy.md under heading, up to the
// next "## " heading.
func docSection(t *testing.T, heading string) string {
	t.Helper()
	md, err := os.ReadFile("../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(md), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("docs/policy.md has no %q section", heading)
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	return sec
}

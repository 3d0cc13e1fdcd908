package v1alpha1_test

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policy/v1alpha1"
)

// TestPlatforms: with.platforms, a string or an object, survives the
// informer's unstructured form both ways (the converter uses the type's
// JSON methods), and the object compiles.
func TestPlatforms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		yaml string
		want policy.Platforms
	}{
		{"all", policy.Platforms{Select: policy.PlatformsAll}},
		{"index", policy.Platforms{Select: policy.PlatformsIndex}},
		{"{any-of: [linux/amd64, linux/arm64]}", policy.Platforms{AnyOf: []string{"linux/amd64", "linux/arm64"}}},
	} {
		var u map[string]any
		doc := `apiVersion: signet.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: multi}
spec:
  validators: [{name: c, type: cosign, trustRoots: [{name: k, key: "k8s://signet/cosign-pub"}]}]
  rules: [{pattern: "ghcr.io/**", validator: c, with: {platforms: ` + tc.yaml + `}}]
`
		if err := yaml.Unmarshal([]byte(doc), &u); err != nil {
			t.Fatal(err)
		}
		var p v1alpha1.ClusterImagePolicy
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u, &p, true); err != nil {
			t.Fatalf("%s: %v", tc.yaml, err)
		}
		got := p.Spec.Rules[0].With.Platforms
		if got == nil || got.Select != tc.want.Select || !slices.Equal(got.AnyOf, tc.want.AnyOf) {
			t.Errorf("%s: read %+v, want %+v", tc.yaml, got, tc.want)
		}
		back, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&p)
		if err != nil {
			t.Fatal(err)
		}
		again := back["spec"].(map[string]any)["rules"].([]any)[0].(map[string]any)["with"].(map[string]any)["platforms"]
		want := u["spec"].(map[string]any)["rules"].([]any)[0].(map[string]any)["with"].(map[string]any)["platforms"]
		if b1, b2 := asYAML(t, again), asYAML(t, want); b1 != b2 {
			t.Errorf("%s: written back as %s, want %s", tc.yaml, b1, b2)
		}
		if _, err := policy.Compile(p.Document(), nil, policy.Offline()); err != nil {
			t.Errorf("%s: %v", tc.yaml, err)
		}
	}
}

func asYAML(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

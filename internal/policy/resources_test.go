package policy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
)

// resourcesPolicy is a valid policy with resources appended.
func resourcesPolicy(resources string) string {
	return `apiVersion: signet.dev/v1alpha1
kind: ClusterImagePolicy
validators:
- {name: default, type: static, approve: true}
rules:
- pattern: "**"
resources:
` + resources
}

func TestResources(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		resources string
		errs      []string // field: message fragments, each expected
	}{
		{name: "rollout and task", resources: `
- {group: argoproj.io, version: v1alpha1, kind: Rollout, images: [{podTemplate: /spec/template}]}
- group: tekton.dev
  version: v1
  kind: Task
  images:
  - expression: 'object.spec.steps.transformList(i, s, has(s.image), "/spec/steps/" + string(i) + "/image")'
  - expression: 'has(object.spec.sidecars) ? object.spec.sidecars.transformList(i, s, "/spec/sidecars/" + string(i) + "/image") : []'
`},
		{name: "expression does not compile", resources: `
- {group: tekton.dev, version: v1, kind: Task, images: [{podTemplate: /spec/template}, {expression: 'object.spec.steps.map('}]}
`, errs: []string{"resources[0].images[1].expression: "}},
		{name: "expression returns no list", resources: `
- {group: tekton.dev, version: v1, kind: Task, images: [{expression: '"/spec/image"'}]}
`, errs: []string{"resources[0].images[0].expression: must evaluate to a list(string), not string"}},
		{name: "expression with an unknown variable", resources: `
- {group: tekton.dev, version: v1, kind: Task, images: [{expression: 'predicate.images'}]}
`, errs: []string{"resources[0].images[0].expression: ", "undeclared reference to 'predicate'"}},
		{name: "expression too costly", resources: `
- {group: tekton.dev, version: v1, kind: Task, images: [{expression: 'object.a.map(x, object.b.map(y, object.c.map(z, object.d.map(w, "/a"))))[0][0][0]'}]}
`, errs: []string{"resources[0].images[0].expression: estimated cost", "on an object whose"}},
		{name: "both forms", resources: `
- {group: tekton.dev, version: v1, kind: Task, images: [{expression: '[]', podTemplate: /spec/template}]}
`, errs: []string{"resources[0].images[0]: expression and podTemplate are exclusive"}},
		{name: "neither form", resources: `
- {group: tekton.dev, version: v1, kind: Task, images: [{}]}
`, errs: []string{"resources[0].images[0]: an expression"}},
		{name: "no images", resources: `
- {group: tekton.dev, version: v1, kind: Task}
`, errs: []string{"resources[0].images: at least one entry is required"}},
		{name: "podTemplate is not a pointer", resources: `
- {group: argoproj.io, version: v1alpha1, kind: Rollout, images: [{podTemplate: spec.template}]}
`, errs: []string{`resources[0].images[0].podTemplate: "spec.template" is not a JSON pointer`}},
		{name: "group, version and kind", resources: `
- {images: [{podTemplate: /spec/template}]}
- {group: "Argo_Proj", version: "v1/alpha", kind: rollout, images: [{podTemplate: /spec/template}]}
`, errs: []string{"resources[0].group: is required", "resources[0].version: is required", "resources[0].kind: is required",
			`resources[1].group: "Argo_Proj" is not a valid group`, `resources[1].version: "v1/alpha" is not a valid version`, `resources[1].kind: "rollout" is not a valid kind`}},
		{name: "built-in kind", resources: `
- {group: example.com, version: v1, kind: Deployment, images: [{podTemplate: /spec/template}]}
`, errs: []string{"resources[0].kind: Deployment is one of the built-in kinds"}},
		{name: "declared twice", resources: `
- {group: argoproj.io, version: v1alpha1, kind: Rollout, images: [{podTemplate: /spec/template}]}
- {group: argoproj.io, version: v1alpha1, kind: Rollout, images: [{podTemplate: /spec/other}]}
`, errs: []string{"resources[1]: argoproj.io/v1alpha1 Rollout is declared twice (also resources[0])"}},
		{name: "too many images entries", resources: `
- {group: argoproj.io, version: v1alpha1, kind: Rollout, images: [` + strings.Repeat("{podTemplate: /spec/template},", policy.MaxResourceImages) + `{podTemplate: /spec/template}]}
`, errs: []string{"resources[0].images: 17 entries; at most 16"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := policy.Parse([]byte(resourcesPolicy(tc.resources)))
			if err != nil {
				t.Fatal(err)
			}
			eng, err := policy.Compile(doc, registry.MustNew())
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				got := eng.Resources()
				slices.Sort(got)
				if want := []string{"argoproj.io/v1alpha1/Rollout", "tekton.dev/v1/Task"}; !slices.Equal(got, want) {
					t.Errorf("Resources() = %v, want %v", got, want)
				}
				if eng.Resource("argoproj.io", "v1alpha1", "Rollout") == nil || eng.Resource("argoproj.io", "v1", "Rollout") != nil || eng.Resource("", "v1", "Task") != nil {
					t.Error("Resource does not match on group, version and kind")
				}
				return
			}
			if err == nil {
				t.Fatal("compiled")
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

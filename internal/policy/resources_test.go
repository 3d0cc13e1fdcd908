package policy_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/attest"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/workload"
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

// TestDocResourceExamples: the policy in docs/policy.md's "Images in
// custom resources" section passes lint, and its kinds find the images of
// a Rollout and of a Task as the section says.
func TestDocResourceExamples(t *testing.T) {
	t.Parallel()
	md, err := os.ReadFile("../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(md), "\n## Images in custom resources\n")
	if !ok {
		t.Fatal("docs/policy.md has no section Images in custom resources")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	blocks := yamlBlock.FindAllStringSubmatch(sec, -1)
	if len(blocks) != 1 {
		t.Fatalf("%d YAML examples, want the policy", len(blocks))
	}
	if r := policy.Lint([]byte(blocks[0][1])); !r.Valid() {
		t.Fatalf("lint: %+v", r.Errors)
	}
	var doc struct {
		Spec policy.Spec `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(blocks[0][1]), &doc); err != nil || len(doc.Spec.Resources) == 0 {
		t.Fatalf("%v (%d resources)", err, len(doc.Spec.Resources))
	}
	find := func(kind, object string) []string {
		t.Helper()
		i := slices.IndexFunc(doc.Spec.Resources, func(r policy.Resource) bool { return r.Kind == kind })
		if i < 0 {
			t.Fatalf("no %s in the example", kind)
		}
		res := &workload.Resource{Kind: kind}
		for _, im := range doc.Spec.Resources[i].Images {
			if im.PodTemplate != "" {
				res.PodTemplates = append(res.PodTemplates, im.PodTemplate)
				continue
			}
			p, err := attest.CompilePaths(im.Expression)
			if err != nil {
				t.Fatal(err)
			}
			res.Expressions = append(res.Expressions, p)
		}
		obj, err := workload.DecodeResource(context.Background(), res, []byte(object))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		var got []string
		for _, img := range obj.Images {
			got = append(got, img.Path+"="+img.Ref)
		}
		return got
	}
	rollout := `{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","spec":{"strategy":{"canary":{}},"template":{"spec":{"containers":[{"name":"app","image":"ghcr.io/acme/app:v1"}]}}}}`
	if got, want := find("Rollout", rollout), []string{"/spec/template/spec/containers/0/image=ghcr.io/acme/app:v1"}; !slices.Equal(got, want) {
		t.Errorf("Rollout: %v, want %v", got, want)
	}
	task := `{"apiVersion":"tekton.dev/v1","kind":"Task","spec":{"steps":[{"name":"build","image":"ghcr.io/acme/builder:v2"},{"name":"shared","ref":{"name":"git-clone"}}],"sidecars":[{"name":"docker","image":"ghcr.io/acme/dind:27"}]}}`
	if got, want := find("Task", task), []string{"/spec/steps/0/image=ghcr.io/acme/builder:v2", "/spec/sidecars/0/image=ghcr.io/acme/dind:27"}; !slices.Equal(got, want) {
		t.Errorf("Task: %v, want %v", got, want)
	}
	noSidecars := `{"spec":{"steps":[{"name":"build","image":"ghcr.io/acme/builder:v2"}]}}`
	if got := find("Task", noSidecars); len(got) != 1 {
		t.Errorf("Task without sidecars: %v", got)
	}
}

package v1alpha1_test

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policy/v1alpha1"
)

// object is a ClusterImagePolicy as an informer hands it over
// (unstructured), with status.
const object = `apiVersion: signet.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: team, generation: 3}
spec:
  mode: warn
  validators: [{name: allow, type: static, approve: true}]
  rules:
  - {pattern: "ghcr.io/**", validator: allow, with: {mutate: false}}
  - {pattern: "**", validator: %s}
status:
  observedGeneration: 2
  rules: 2
  conditions: [{type: Ready, status: "True", reason: Compiled, message: ok, lastTransitionTime: "2026-01-02T03:04:05Z"}]
`

func decode(t *testing.T, validator string) *v1alpha1.ClusterImagePolicy {
	t.Helper()
	var u unstructured.Unstructured
	if err := yaml.Unmarshal([]byte(strings.Replace(object, "%s", validator, 1)), &u.Object); err != nil {
		t.Fatal(err)
	}
	var p v1alpha1.ClusterImagePolicy
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, &p, true); err != nil {
		t.Fatal(err)
	}
	return &p
}

// TestDocument: a resource's spec compiles with the compiler of files, its
// problems reported with the resource's field paths; the Document is a
// copy, not shared with the object the informer's cache holds.
func TestDocument(t *testing.T) {
	t.Parallel()
	p := decode(t, "allow")
	if p.Status.Rules != 2 || p.Status.ObservedGeneration != 2 || len(p.Status.Conditions) != 1 || p.Status.Conditions[0].Type != v1alpha1.ConditionReady {
		t.Errorf("status %+v", p.Status)
	}
	doc := p.Document()
	if doc.Kind != policy.KindCluster || doc.Metadata.Name != "team" || doc.Mode != policy.ModeWarn || len(doc.Rules) != 2 {
		t.Errorf("document %+v", doc)
	}
	if _, err := policy.Compile(doc, nil); err != nil {
		t.Errorf("compile: %v", err)
	}
	doc.Rules[0].Pattern = "changed"
	*doc.Rules[0].With.Mutate = true
	if p.Spec.Rules[0].Pattern != "ghcr.io/**" || *p.Spec.Rules[0].With.Mutate {
		t.Errorf("the Document shares the object's spec: %+v", p.Spec.Rules[0])
	}

	_, err := policy.Compile(decode(t, "nope").Document(), nil)
	ie, ok := errors.AsType[*policy.InvalidError](err)
	if !ok || len(ie.Errs) != 1 || ie.Errs[0].Field != "spec.rules[1].validator" || ie.Errs[0].Line != 0 {
		t.Errorf("compile: %v, want one error at spec.rules[1].validator", err)
	}

	ns := &v1alpha1.ImagePolicy{Spec: p.Spec}
	ns.Name, ns.Namespace = "a", "team-a"
	if d := ns.Document(); d.Kind != policy.Kind || d.Metadata.Name != "a" {
		t.Errorf("ImagePolicy document %+v", d)
	}
}

// TestScheme: both kinds and their lists are registered under
// signet.dev/v1alpha1, and deep copies are independent.
func TestScheme(t *testing.T) {
	t.Parallel()
	s := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"ClusterImagePolicy", "ClusterImagePolicyList", "ImagePolicy", "ImagePolicyList"} {
		if _, err := s.New(v1alpha1.SchemeGroupVersion.WithKind(kind)); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
	}
	p := decode(t, "allow")
	c := p.DeepCopyObject().(*v1alpha1.ClusterImagePolicy)
	c.Spec.Validators[0].TrustRoots = append(c.Spec.Validators[0].TrustRoots, policy.TrustRoot{Name: "x"})
	*c.Spec.Validators[0].Approve = false
	c.Status.Conditions[0].Status = "False"
	if len(p.Spec.Validators[0].TrustRoots) != 0 || !*p.Spec.Validators[0].Approve || p.Status.Conditions[0].Status != "True" {
		t.Errorf("DeepCopy shares memory with the original: %+v", p)
	}
}

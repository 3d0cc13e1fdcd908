package helm

import (
	"fmt"
	"strings"
	"testing"
)

// TestResourceRules: the kinds policy.resources declares, and those
// webhook.resources lists, are sent to both webhooks, each with the
// resource name the API server serves it as; without them the rules are the
// nine built-in kinds' only.
func TestResourceRules(t *testing.T) {
	t.Parallel()
	rules := func(objs map[string]map[string]any, kind string) []string {
		var out []string
		for _, r := range get(objs[kind+"/rel-signet"], "webhooks", 0, "rules").([]any) {
			out = append(out, fmt.Sprintf("%v %v %v %v %v", get(r, "apiGroups"), get(r, "apiVersions"), get(r, "resources"), get(r, "scope"), get(r, "operations")))
		}
		return out
	}
	builtIn := 3
	objs := render(t)
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		if got := rules(objs, kind); len(got) != builtIn {
			t.Errorf("%s: default rules %v", kind, got)
		}
	}
	objs = render(t,
		`policy.resources=[{"group":"argoproj.io","version":"v1alpha1","kind":"Rollout","images":[{"podTemplate":"/spec/template"}]},`+
			`{"group":"example.com","version":"v1","kind":"BatchPolicy","images":[{"podTemplate":"/spec/template"}]},`+
			`{"group":"example.com","version":"v1","kind":"Match","images":[{"podTemplate":"/spec/template"}]}]`,
		`webhook.resources=[{"group":"tekton.dev","version":"v1","resource":"tasks"}]`)
	want := []string{
		"[argoproj.io] [v1alpha1] [rollouts] * [CREATE UPDATE]",
		"[example.com] [v1] [batchpolicies] * [CREATE UPDATE]",
		"[example.com] [v1] [matches] * [CREATE UPDATE]",
		"[tekton.dev] [v1] [tasks] * [CREATE UPDATE]",
	}
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		got := rules(objs, kind)
		if len(got) != builtIn+len(want) || strings.Join(got[builtIn:], "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: rules\n%s\nwant the built-in ones then\n%s", kind, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// The policy rendered into the ConfigMap declares them.
	if cm := fmt.Sprint(get(objs["ConfigMap/rel-signet-policy"], "data", "policy.yaml")); !strings.Contains(cm, "kind: Rollout") || !strings.Contains(cm, "podTemplate: /spec/template") {
		t.Errorf("policy.yaml lacks the resources:\n%s", cm)
	}
	// A webhook.resources entry needs a resource name.
	if out, err := helm(t, templateArgs(`webhook.resources=[{"group":"tekton.dev","version":"v1"}]`)...); err == nil || !strings.Contains(out, "resource") {
		t.Errorf("an entry without resource: %v\n%s", err, out)
	}
}

package helm

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policy/v1alpha1"
	"github.com/signet-dev/signet/internal/testutil"
)

// policyWebhook returns the policy.signet.dev webhook of the chart's
// ValidatingWebhookConfiguration, and the configuration's other webhooks.
func policyWebhook(objs map[string]map[string]any) (hook map[string]any, others []any) {
	for _, h := range get(objs["ValidatingWebhookConfiguration/rel-signet"], "webhooks").([]any) {
		if get(h, "name") == "policy.signet.dev" {
			hook = h.(map[string]any)
			continue
		}
		others = append(others, h)
	}
	return hook, others
}

// TestPolicyWebhook: signet's webhook for its policy resources is in the
// chart's ValidatingWebhookConfiguration, sent CREATE and UPDATE of both
// kinds in every namespace, failing closed whatever webhook.failurePolicy
// says, with the image webhooks' caBundle in every TLS mode; it stays
// when the image validating webhook is turned off, and goes with
// webhook.policy=false.
func TestPolicyWebhook(t *testing.T) {
	t.Parallel()
	const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	for _, set := range [][]string{
		nil,
		{"webhook.failurePolicy=Ignore"},
		{"tls.mode=secret", "tls.secret.name=cert", "tls.secret.caBundle=" + ca},
		{"tls.mode=managed"},
		{"tls.mode=certManager"},
	} {
		objs := render(t, set...)
		hook, others := policyWebhook(objs)
		if hook == nil || len(others) != 1 {
			t.Fatalf("%v: policy webhook %v beside %d others", set, hook, len(others))
		}
		for _, f := range []struct {
			path []any
			want any
		}{
			{[]any{"failurePolicy"}, "Fail"},
			{[]any{"sideEffects"}, "None"},
			{[]any{"clientConfig", "service", "path"}, "/validate-policy"},
			{[]any{"clientConfig", "service", "name"}, "rel-signet"},
			{[]any{"clientConfig", "caBundle"}, get(others[0], "clientConfig", "caBundle")},
			{[]any{"namespaceSelector"}, nil},
			{[]any{"matchConditions"}, nil},
			{[]any{"rules", 0, "resources"}, []any{"clusterimagepolicies"}},
			{[]any{"rules", 1, "resources"}, []any{"imagepolicies"}},
			{[]any{"rules", 1, "operations"}, []any{"CREATE", "UPDATE"}},
			{[]any{"rules", 1, "apiGroups"}, []any{"signet.dev"}},
		} {
			if got := get(hook, f.path...); !reflect.DeepEqual(got, f.want) {
				t.Errorf("%v: policy webhook %v = %v, want %v", set, f.path, got, f.want)
			}
		}
		if strings.Contains(fmt.Sprint(set), "managed") {
			args := fmt.Sprint(get(objs["Deployment/rel-signet"], "spec", "template", "spec", "containers", 0, "args"))
			if !strings.Contains(args, "--validating-webhook-configuration=rel-signet") {
				t.Errorf("managed TLS: args %s do not name the validating configuration", args)
			}
		}
	}

	objs := render(t, "webhook.validating=false", "tls.mode=managed")
	if hook, others := policyWebhook(objs); hook == nil || len(others) != 0 {
		t.Errorf("webhook.validating=false: policy webhook %v beside %v", hook, others)
	}
	if args := fmt.Sprint(get(objs["Deployment/rel-signet"], "spec", "template", "spec", "containers", 0, "args")); !strings.Contains(args, "--validating-webhook-configuration=rel-signet") {
		t.Errorf("webhook.validating=false, managed TLS: args %s", args)
	}
	if hook, others := policyWebhook(render(t, "webhook.policy=false")); hook != nil || len(others) != 1 {
		t.Errorf("webhook.policy=false: policy webhook %v", hook)
	}
	if objs := render(t, "webhook.policy=false", "webhook.validating=false"); objs["ValidatingWebhookConfiguration/rel-signet"] != nil {
		t.Error("no validating webhook: a ValidatingWebhookConfiguration is rendered")
	}
}

// TestDefaultClusterImagePolicy: with policySource=cluster (the default)
// the chart's policy values (selfVerification's validator and rules
// included) become a ClusterImagePolicy whose spec is the policy file's
// body, which compiles; the policy webhook leaves that one object to the
// policy-lint hook. It renders only where the API serves the kind (Helm
// resolves every kind before creating anything): elsewhere — the install
// that creates the CRDs — signet serves the same values as its file next
// to the resources. file renders none.
func TestDefaultClusterImagePolicy(t *testing.T) {
	t.Parallel()
	args := func(objs map[string]map[string]any) string {
		return fmt.Sprint(get(objs["Deployment/rel-signet"], "spec", "template", "spec", "containers", 0, "args"))
	}
	objs := render(t, "policySource=file")
	if objs["ClusterImagePolicy/rel-signet-default"] != nil {
		t.Error("policySource file renders a ClusterImagePolicy")
	}
	if cm := fmt.Sprint(get(objs["ConfigMap/signet-system/rel-signet-policy"], "data", "policy.yaml")); strings.Contains(cm, "source") {
		t.Errorf("the policy file names its source:\n%s", cm)
	}
	// The install that creates the CRD cannot create an object of it: the
	// values are signet's file there, next to the resources.
	objs = render(t)
	if objs["ClusterImagePolicy/rel-signet-default"] != nil || !strings.Contains(args(objs), "--policy=/etc/signet/policy/policy.yaml") || !strings.Contains(args(objs), "--policy-source=cluster") {
		t.Errorf("the default without the CRD served: object %v, args %s; want none, the file and the resources", objs["ClusterImagePolicy/rel-signet-default"] != nil, args(objs))
	}

	key, _ := json.Marshal(testutil.NewKey(t).PEM)
	objs = renderArgs(t, append(templateArgs("policySource=cluster", `selfVerification={"key":`+string(key)+`}`), "--api-versions", "signet.dev/v1alpha1/ClusterImagePolicy")...)
	cip := objs["ClusterImagePolicy/rel-signet-default"]
	if cip == nil {
		t.Fatal("policySource cluster renders no ClusterImagePolicy rel-signet-default")
	}
	if strings.Contains(args(objs), "--policy=") {
		t.Errorf("the object and the file both serve the values: %s", args(objs))
	}
	b, err := yaml.Marshal(cip)
	if err != nil {
		t.Fatal(err)
	}
	var o v1alpha1.ClusterImagePolicy
	if err := yaml.UnmarshalStrict(b, &o); err != nil {
		t.Fatalf("the ClusterImagePolicy does not decode: %v\n%s", err, b)
	}
	file, err := policy.Parse([]byte(fmt.Sprint(get(objs["ConfigMap/signet-system/rel-signet-policy"], "data", "policy.yaml"))))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.Spec, file.Spec) {
		t.Errorf("the ClusterImagePolicy's spec differs from the policy file's body:\n%s", b)
	}
	if !strings.Contains(string(b), "signet-release") {
		t.Errorf("selfVerification's validator is not in the ClusterImagePolicy:\n%s", b)
	}
	if _, err := policy.CompileUnit(policy.Object{Ref: policy.ObjectRef{Kind: policy.KindCluster, Name: o.Name}, Doc: o.Document()}, nil, policy.Offline()); err != nil {
		t.Errorf("the chart's ClusterImagePolicy does not compile: %v", err)
	}
	hook, _ := policyWebhook(objs)
	mc := fmt.Sprint(get(hook, "matchConditions"))
	if !strings.Contains(mc, "object.metadata.name == 'rel-signet-default'") || !strings.Contains(mc, "request.kind.kind == 'ClusterImagePolicy'") {
		t.Errorf("matchConditions %s do not leave out exactly the chart's ClusterImagePolicy", mc)
	}
	if out, err := helm(t, templateArgs("policySource=everywhere")...); err == nil || !strings.Contains(out, "policySource") {
		t.Errorf("policySource=everywhere: %v %.300s; want it refused", err, out)
	}
}

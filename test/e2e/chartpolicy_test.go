package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/signet-dev/signet/internal/policy/v1alpha1"
	"github.com/signet-dev/signet/test/harness"
)

// TestChartDefaultPolicy runs helm install and upgrade against a real
// kube-apiserver with the default policySource, cluster: the install that
// also creates the CRDs cannot create the ClusterImagePolicy
// <release>-default (Helm resolves every kind first), so it serves the
// chart's policy as signet's file next to the resources; the first upgrade
// makes the object and drops the file, and the next upgrade changes it.
// No signet runs here, so the chart's webhooks are left out (test/helm
// and TestPolicyWebhook check the policy webhook).
func TestChartDefaultPolicy(t *testing.T) {
	t.Parallel()
	env, cs := startAPIServer(t, nil)
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: signetNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kc := writeKubeconfig(t, env, "helm")
	chart := filepath.Join(harness.Root, "deploy", "helm", "signet")
	helm := func(args ...string) (string, error) {
		out, err := exec.Command(harness.Tool(t, "helm"), append(args, chart, "--kubeconfig", kc, "--namespace", signetNamespace,
			"--set", "policyLint.enabled=false", "--set", "tls.mode=generate",
			"--set", "webhook.mutating=false", "--set", "webhook.validating=false", "--set", "webhook.policy=false")...).CombinedOutput()
		return string(out), err
	}
	args := func() string {
		d, err := cs.AppsV1().Deployments(signetNamespace).Get(ctx, "signet", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(d.Spec.Template.Spec.Containers[0].Args, " ")
	}
	if out, err := helm("install", "signet"); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if a := args(); !strings.Contains(a, "--policy=/etc/signet/policy/policy.yaml") || !strings.Contains(a, "--policy-source=cluster") {
		t.Errorf("first install: signet runs with %s, want the chart's policy as its file next to the resources", a)
	}
	cip := dynamic.NewForConfigOrDie(env.Config).Resource(v1alpha1.ClusterImagePolicies)
	for _, step := range []struct {
		set  []string
		mode string
	}{
		{nil, ""},
		{[]string{"--set", "policy.mode=warn"}, "warn"},
	} {
		if out, err := helm(append([]string{"upgrade", "signet"}, step.set...)...); err != nil {
			t.Fatalf("upgrade %v: %v\n%s", step.set, err, out)
		}
		o, err := cip.Get(ctx, "signet-default", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("upgrade %v: %v", step.set, err)
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
		mode, _, _ := unstructured.NestedString(o.Object, "spec", "mode")
		if len(rules) != 2 || mode != step.mode {
			t.Errorf("upgrade %v: the ClusterImagePolicy has %d rules and mode %q, want 2 and %q", step.set, len(rules), mode, step.mode)
		}
		if a := args(); strings.Contains(a, "--policy=") {
			t.Errorf("upgrade %v: signet still serves a file next to the ClusterImagePolicy: %s", step.set, a)
		}
	}
}

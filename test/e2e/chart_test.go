package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/test/harness"
)

// TestChart applies the chart's objects, as helm renders them, to a real
// kube-apiserver (which validates each one: the NetworkPolicy, the
// ValidatingAdmissionPolicy, the hook Job…), checks that helm install
// refuses the default namespace, and that the namespace
// opt-out label can be set, changed or removed only by the groups the
// chart names. The webhook configurations are only validated (dry run):
// stored, they would send the API server to a Service address (tests
// register webhooks by URL on loopback only, see setup_test.go).
func TestChart(t *testing.T) {
	t.Parallel()
	env := &envtest.Environment{BinaryAssetsDirectory: assets(t), ControlPlaneStartTimeout: 60 * time.Second, ControlPlaneStopTimeout: 30 * time.Second}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	ctx := context.Background()
	admin := kubernetes.NewForConfigOrDie(cfg)
	for _, ns := range []string{signetNamespace, "team-a"} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	out, err := exec.Command(harness.Tool(t, "helm"), "template", "rel", filepath.Join(harness.Root, "deploy", "helm", "signet"),
		"--namespace", signetNamespace, "--kube-version", "1.34.0",
		"--set", "webhook.ignoreLabel=signet.dev/ignore", "--set-json", `webhook.ignoreLabelGroups=["signet-admins"]`,
		"--set-json", `registryAuth.pullSecrets={"namespaces":["team-a"]}`, "--set", "redis.existingSecret=signet-redis",
		"--set-json", `networkPolicy.podCIDRs=["10.244.0.0/16","fd00:10:244::/56"]`).CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(cfg)))
	applied := map[string]bool{}
	for _, doc := range strings.Split(string(out), "\n---") {
		var o unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &o.Object); err != nil {
			t.Fatalf("rendered YAML: %v", err)
		}
		if o.Object == nil {
			continue
		}
		opts := metav1.CreateOptions{FieldValidation: "Strict"}
		if strings.HasSuffix(o.GetKind(), "WebhookConfiguration") {
			opts.DryRun = []string{metav1.DryRunAll} // validated, never stored
		}
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		var ri dynamic.ResourceInterface = dc.Resource(m.Resource)
		if ns := o.GetNamespace(); ns != "" {
			ri = dc.Resource(m.Resource).Namespace(ns)
		}
		if _, err := ri.Create(ctx, &o, opts); err != nil {
			t.Errorf("the API server refuses %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		applied[o.GetKind()+"/"+o.GetName()] = true
	}
	for _, want := range []string{"MutatingWebhookConfiguration/rel-signet", "ValidatingWebhookConfiguration/rel-signet", "NetworkPolicy/rel-signet", "ValidatingAdmissionPolicy/rel-signet-ignore-label", "ValidatingAdmissionPolicyBinding/rel-signet-ignore-label",
		"Job/rel-signet-policy-lint", "Deployment/rel-signet", "RoleBinding/rel-signet-pull-secrets"} {
		if !applied[want] {
			t.Errorf("%s not rendered", want)
		}
	}

	// helm install refuses a namespace shared with other workloads, before
	// creating anything.
	kc := writeKubeconfig(t, env, "helm")
	out, err = exec.Command(harness.Tool(t, "helm"), "install", "signet", filepath.Join(harness.Root, "deploy", "helm", "signet"),
		"--kubeconfig", kc, "--namespace", "default").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `signet must not be installed in namespace "default"`) {
		t.Errorf("helm install into default: %v\n%s", err, out)
	}
	if l, err := admin.AppsV1().Deployments("default").List(ctx, metav1.ListOptions{}); err != nil || len(l.Items) != 0 {
		t.Errorf("deployments in default after a refused install: %v %v", l, err)
	}

	// A tenant may create and label namespaces (as where tenants set Pod
	// Security labels); a platform admin is in signet-admins.
	clients := map[string]kubernetes.Interface{}
	for user, group := range map[string]string{"tenant": "tenants", "platform": "signet-admins"} {
		u, err := env.AddUser(envtest.User{Name: user, Groups: []string{group}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		clients[user] = kubernetes.NewForConfigOrDie(u.Config())
	}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "namespace-owner"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces", "namespaces/status"}, Verbs: []string{"get", "create", "update", "patch"}}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "namespace-owner"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "namespace-owner"},
		Subjects: []rbacv1.Subject{{Kind: "Group", Name: "tenants"}, {Kind: "Group", Name: "signet-admins"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	create := func(user, name string, labels map[string]string) error {
		_, err := clients[user].CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
		return err
	}
	label := func(user, ns, key, value string) error {
		v := `"` + value + `"`
		if value == "" {
			v = "null"
		}
		_, err := clients[user].CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, []byte(`{"metadata":{"labels":{"`+key+`":`+v+`}}}`), metav1.PatchOptions{})
		return err
	}
	ignore := map[string]string{"signet.dev/ignore": "true"}
	// The policy is enforced once the API server has loaded it.
	eventually(t, 30*time.Second, "the label guard to take effect", func() bool {
		err := create("tenant", "probe", ignore)
		return err != nil && strings.Contains(err.Error(), "only members of signet-admins")
	})
	denied := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "only members of signet-admins may set, change or remove the label signet.dev/ignore") {
			t.Errorf("%s: %v, want the label guard's denial", what, err)
		}
	}
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	denied("tenant CREATE with the label", create("tenant", "t1", ignore))
	allowed("tenant CREATE without it", create("tenant", "t2", map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}))
	denied("tenant UPDATE adding it", label("tenant", "t2", "signet.dev/ignore", "true"))
	allowed("tenant UPDATE of another label", label("tenant", "t2", "team", "a"))
	allowed("admin UPDATE adding it", label("platform", "t2", "signet.dev/ignore", "true"))
	allowed("tenant UPDATE of another label on a labelled namespace", label("tenant", "t2", "team", "b"))
	denied("tenant UPDATE changing it", label("tenant", "t2", "signet.dev/ignore", "false"))
	denied("tenant UPDATE removing it", label("tenant", "t2", "signet.dev/ignore", ""))
	allowed("admin UPDATE removing it", label("platform", "t2", "signet.dev/ignore", ""))
	// Through the status subresource, which stores labels too.
	nsObj, err := clients["tenant"].CoreV1().Namespaces().Get(ctx, "t2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nsObj.Labels["signet.dev/ignore"] = "true"
	_, err = clients["tenant"].CoreV1().Namespaces().UpdateStatus(ctx, nsObj, metav1.UpdateOptions{})
	denied("tenant UPDATE of namespaces/status adding it", err)
	allowed("admin CREATE with the label", create("platform", "t3", ignore))
	ns, err := admin.CoreV1().Namespaces().Get(ctx, "t2", metav1.GetOptions{})
	if err != nil || ns.Labels["signet.dev/ignore"] != "" || ns.Labels["team"] != "b" {
		t.Errorf("namespace t2 labels %v (%v)", ns.Labels, err)
	}
}

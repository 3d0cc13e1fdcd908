package reverify

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/test/harness"
)

// TestChartCRD renders the chart against a real API server (helm template
// --dry-run=server, so lookup sees the cluster) and shows when it renders
// the PolicyReport CRD: where the cluster has none; not where another tool
// (here, a Helm release "kyverno") installed it; again where this release
// installed it, so upgrades keep it.
func TestChartCRD(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, cfg := start(t)
	if _, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "signet-system"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := harness.Kubeconfig(t, env, envtest.User{Name: "admin", Groups: []string{"system:masters"}})
	rendered := func() bool {
		t.Helper()
		out, err := exec.Command(harness.Tool(t, "helm"), "template", "rel", filepath.Join(harness.Root, "deploy", "helm", "signet"),
			"--namespace", "signet-system", "--kube-version", "1.34.0", "--dry-run=server", "--kubeconfig", kubeconfig).CombinedOutput()
		if err != nil {
			t.Fatalf("helm template --dry-run=server: %v\n%s", err, out)
		}
		return strings.Contains(string(out), "name: policyreports.wgpolicyk8s.io")
	}

	if !rendered() {
		t.Error("no PolicyReport CRD in the cluster: not rendered")
	}
	b, err := os.ReadFile(filepath.Join(crdDir, "wgpolicyk8s.io_policyreports.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &crd); err != nil {
		t.Fatalf("the CRD file: %v", err)
	}
	crds := apiextensions.NewForConfigOrDie(cfg).ApiextensionsV1().CustomResourceDefinitions()
	for _, tc := range []struct {
		release string
		want    bool
	}{
		{"kyverno", false},
		{"rel", true},
	} {
		crd.Labels = map[string]string{"app.kubernetes.io/managed-by": "Helm"}
		crd.Annotations = map[string]string{"meta.helm.sh/release-name": tc.release, "meta.helm.sh/release-namespace": "signet-system"}
		stored, err := crds.Get(ctx, crd.Name, metav1.GetOptions{})
		if err == nil {
			crd.ResourceVersion = stored.ResourceVersion
			_, err = crds.Update(ctx, &crd, metav1.UpdateOptions{})
		} else {
			_, err = crds.Create(ctx, &crd, metav1.CreateOptions{})
		}
		if err != nil {
			t.Fatalf("storing the CRD of release %s: %v", tc.release, err)
		}
		if got := rendered(); got != tc.want {
			t.Errorf("the CRD installed by release %s: rendered = %v, want %v", tc.release, got, tc.want)
		}
	}
}

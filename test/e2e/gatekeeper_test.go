package e2e

import (
	"context"
	"encoding/base64"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/test/harness"
)

// gatekeeperResources maps the kinds the chart's Gatekeeper objects use to
// their resources (cluster-scoped all).
var gatekeeperResources = map[string]schema.GroupVersionResource{
	"Provider":             {Group: "externaldata.gatekeeper.sh", Version: "v1beta1", Resource: "providers"},
	"ConstraintTemplate":   {Group: "templates.gatekeeper.sh", Version: "v1", Resource: "constrainttemplates"},
	"SignetVerifiedImages": {Group: "constraints.gatekeeper.sh", Version: "v1beta1", Resource: "signetverifiedimages"},
	"Assign":               {Group: "mutations.gatekeeper.sh", Version: "v1", Resource: "assign"},
}

// TestGatekeeper runs OPA Gatekeeper, built from its pinned Go module, as
// the validating and mutating webhook of a real kube-apiserver, with
// signet serve as its external-data provider over mutual TLS (Gatekeeper
// presents its serving certificate, signet requires it with
// --externaldata-client-ca) and the chart's ConstraintTemplate, Constraint
// and Assigns: a Pod with an unsigned image is denied with signet's
// reason, a signed one admitted with its image pinned to the verified
// digest by the Assign.
func TestGatekeeper(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	work := t.TempDir()
	write := func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	reg, pol, signed, _ := signedImages(t)
	_, digest, _ := strings.Cut(signed, "@")
	pinned := reg + "/e2e/app@" + digest

	// Gatekeeper's certificate serves its webhooks and authenticates it to
	// signet.
	gkCA, err := fixture.NewClientCA()
	if err != nil {
		t.Fatal(err)
	}
	gkCert, gkKey, err := gkCA.IssueServing("gatekeeper-webhook-service.gatekeeper-system.svc", net.ParseIP("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	certDir := filepath.Join(work, "certs")
	os.Mkdir(certDir, 0o700)
	for name, b := range map[string][]byte{"tls.crt": gkCert, "tls.key": gkKey, "ca.crt": gkCA.PEM} {
		write(filepath.Join("certs", name), b)
	}
	s := harness.StartServe(t, pol, "--externaldata-client-ca", write("gatekeeper-ca.crt", gkCA.PEM))

	env, cfg := harness.StartAPIServer(t, harness.GatekeeperCRDs(t))
	cs := kubernetes.NewForConfigOrDie(cfg)
	dyn := dynamic.NewForConfigOrDie(cfg)
	for _, ns := range []string{"gatekeeper-system", "team"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Gatekeeper's status objects are owned by its Pod, named by
	// POD_NAME: an object that stands for the process.
	if _, err := cs.CoreV1().Pods("gatekeeper-system").Create(ctx, pod("gatekeeper-e2e", "gatekeeper"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	gkAddr := harness.FreeAddr(t)
	_, port, _ := net.SplitHostPort(gkAddr)
	_, promPort, _ := net.SplitHostPort(harness.FreeAddr(t))
	gk := exec.Command(harness.Tool(t, "gatekeeper"), "--host=127.0.0.1", "--port="+port, "--cert-dir="+certDir, "--disable-cert-rotation",
		"--kubeconfig="+harness.Kubeconfig(t, env, envtest.User{Name: "gatekeeper", Groups: []string{"system:masters"}}),
		"--operation=webhook", "--operation=mutation-webhook", "--operation=mutation-controller", "--operation=generate",
		"--health-addr="+harness.FreeAddr(t), "--prometheus-port="+promPort, "--logtostderr",
		"--exempt-namespace=gatekeeper-system", "--disable-opa-builtin={http.send}")
	gk.Env = append(os.Environ(), "POD_NAMESPACE=gatekeeper-system", "POD_NAME=gatekeeper-e2e", "KUBECONFIG=")
	gkLog := &syncBuffer{}
	gk.Stdout, gk.Stderr = gkLog, gkLog
	harness.Start(t, gk)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gatekeeper log (tail):\n%s", tail(gkLog.String(), 6<<10))
		}
	})

	// The Provider names signet's loopback address; the rest is the
	// chart's, as rendered.
	apply := func(o *unstructured.Unstructured) error {
		gvr, ok := gatekeeperResources[o.GetKind()]
		if !ok {
			t.Fatalf("unexpected kind %s", o.GetKind())
		}
		_, err := dyn.Resource(gvr).Create(ctx, o, metav1.CreateOptions{})
		return err
	}
	if err := apply(&unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "externaldata.gatekeeper.sh/v1beta1", "kind": "Provider", "metadata": map[string]any{"name": "signet"},
		"spec": map[string]any{"url": "https://" + s.Addr + "/externaldata", "timeout": int64(3), "caBundle": base64.StdEncoding.EncodeToString(s.CertPEM)},
	}}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(harness.Tool(t, "helm"), "template", "rel", filepath.Join(harness.Root, "deploy", "helm", "signet"),
		"--namespace", signetNamespace, "--kube-version", "1.34.0", "--show-only", "templates/gatekeeper.yaml",
		"--set", "tls.mode=generate", "--set", "gatekeeper.enabled=true", "--set", "gatekeeper.clientCA.secretName=gatekeeper-ca").CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	var constraint *unstructured.Unstructured
	for _, doc := range strings.Split(string(out), "\n---") {
		o := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &o.Object); err != nil {
			t.Fatal(err)
		}
		switch {
		case o.Object == nil:
		case o.GetKind() == "SignetVerifiedImages":
			constraint = o // once Gatekeeper made its kind from the template
		default:
			if err := apply(o); err != nil {
				t.Fatal(err)
			}
		}
	}
	if constraint == nil {
		t.Fatal("the chart rendered no Constraint")
	}
	eventually(t, 60*time.Second, "the Constraint's kind made by Gatekeeper", func() bool { return apply(constraint) == nil })

	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	timeout := int32(10)
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{"*"}, APIVersions: []string{"*"}, Resources: []string{"*"}},
	}}
	exempt := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"gatekeeper-system", "kube-system"}}}}
	admit, mutate := "https://"+gkAddr+"/v1/admit", "https://"+gkAddr+"/v1/mutate"
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "gatekeeper"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "mutation.gatekeeper.sh", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &mutate, CABundle: gkCA.PEM},
			Rules: rules, NamespaceSelector: exempt, FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1", "v1beta1"},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "gatekeeper"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "validation.gatekeeper.sh", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &admit, CABundle: gkCA.PEM},
			Rules: rules, NamespaceSelector: exempt, FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1", "v1beta1"},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// Unsigned: denied by the Constraint with signet's reason.
	var lastErr error
	eventually(t, 90*time.Second, "the Constraint denying the unsigned image", func() bool {
		_, lastErr = cs.CoreV1().Pods("team").Create(ctx, pod("probe", reg+"/e2e/app:unsigned"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return lastErr != nil && strings.Contains(lastErr.Error(), "signet denied "+reg+"/e2e/app:unsigned: failed:")
	})
	t.Logf("unsigned Pod: %v", lastErr)

	// Signed: admitted, the image pinned by the Assign to the digest
	// signet verified.
	var p *corev1.Pod
	eventually(t, 60*time.Second, "the signed Pod admitted and pinned", func() bool {
		p, lastErr = cs.CoreV1().Pods("team").Create(ctx, pod("web", reg+"/e2e/app:v1"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return lastErr == nil && p.Spec.Containers[0].Image == pinned
	})
	if p, err = cs.CoreV1().Pods("team").Create(ctx, pod("web", reg+"/e2e/app:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("signed Pod: %v", err)
	}
	if got := p.Spec.Containers[0].Image; got != pinned {
		t.Errorf("stored image %s, want %s (pinned by the Assign)", got, pinned)
	}

	// Gatekeeper reached signet with its certificate; anyone else is
	// refused.
	if !strings.Contains(s.Log.String(), "serving") {
		t.Errorf("signet log:\n%s", s.Log.String())
	}
	resp, err := s.Client(s.CertPEM, 1).Post("https://"+s.Addr+"/externaldata", "application/json", strings.NewReader(`{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderRequest","request":{"keys":["`+reg+`/e2e/app:v1"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("external data without Gatekeeper's certificate: %s, want 403", resp.Status)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

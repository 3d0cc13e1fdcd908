package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/test/harness"
)

// TestManagedTLS runs signet serve --tls-mode=managed against a real
// kube-apiserver whose webhooks are registered by URL with an empty
// caBundle: signet creates its CA and serving certificate in a Secret,
// publishes the CA to both webhook configurations, and Pods are then
// admitted through the API server. A second replica adopts the Secret
// instead of creating another CA. signet runs as the chart's service
// account, with only the RBAC the chart renders for tls.mode=managed.
func TestManagedTLS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, cs := startAPIServer(t, nil)
	reg, pol, signed, _ := signedImages(t)
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{signetNamespace, "team"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	applyChartRBAC(t, cs)
	kubeconfig := serviceAccountKubeconfig(t, env, signetNamespace, "signet")
	addr := harness.FreeAddr(t)
	// The webhooks hold the CA of the previous TLS mode (cert-manager's,
	// say): signet publishes its own CA next to it.
	previous, err := fixture.NewClientCA()
	if err != nil {
		t.Fatal(err)
	}
	registerManagedWebhooks(t, cs, addr, previous.PEM)

	start := func(addr string) {
		metricsAddr := harness.FreeAddr(t)
		serve := exec.Command(harness.ImageBin(t), "serve", "--policy", policyFile,
			"--tls-mode=managed", "--tls-secret", "signet-managed-tls", "--tls-service", "signet", "--tls-extra-name", "127.0.0.1", "--tls-sync-interval", "1s",
			"--mutating-webhook-configuration", "signet", "--validating-webhook-configuration", "signet",
			"--kubeconfig", kubeconfig, "--namespace", signetNamespace, "--pull-secrets=false", "--addr", addr, "--metrics-addr", metricsAddr)
		log := &syncBuffer{}
		serve.Stdout, serve.Stderr = log, log
		harness.Start(t, serve)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("signet %s log:\n%s", addr, log.String())
			}
		})
		harness.WaitHTTP(t, http.DefaultClient, "http://"+metricsAddr+"/readyz")
	}
	start(addr)

	sec, err := cs.CoreV1().Secrets(signetNamespace).Get(ctx, "signet-managed-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the TLS Secret: %v", err)
	}
	if sec.Type != corev1.SecretTypeTLS || len(sec.Data["ca.crt"]) == 0 || len(sec.Data["tls.crt"]) == 0 {
		t.Fatalf("TLS Secret of type %s with keys %v", sec.Type, keys(sec.Data))
	}
	caBundle := sec.Data["ca.crt"]
	if blocks := bytes.Count(caBundle, []byte("-----BEGIN CERTIFICATE-----")); blocks != 2 || !bytes.HasSuffix(caBundle, previous.PEM) {
		t.Fatalf("the Secret's ca.crt holds %d certificates, want signet's CA and then the previous mode's:\n%s", blocks, caBundle)
	}
	mw, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "signet", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vw, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "signet", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mw.Webhooks[0].ClientConfig.CABundle, caBundle) || !bytes.Equal(vw.Webhooks[0].ClientConfig.CABundle, caBundle) {
		t.Fatal("caBundle of the webhook configurations is not the Secret's CA")
	}

	// Through the API server, which now trusts signet's CA.
	eventually(t, 30*time.Second, "webhook in effect", func() bool {
		_, err := cs.CoreV1().Pods("team").Create(ctx, pod("probe", reg+"/e2e/app:unsigned"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "signet denied")
	})
	p, err := cs.CoreV1().Pods("team").Create(ctx, pod("web", reg+"/e2e/app:v1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("signed pod through the API server: %v", err)
	}
	if got := p.Spec.Containers[0].Image; got != signed {
		t.Errorf("stored image %s, want %s", got, signed)
	}

	// A second replica adopts the Secret: same CA, and it serves the
	// Secret's certificate, which the published bundle verifies.
	addr2 := harness.FreeAddr(t)
	start(addr2)
	again, err := cs.CoreV1().Secrets(signetNamespace).Get(ctx, "signet-managed-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != sec.ResourceVersion || !bytes.Equal(again.Data["ca.key"], sec.Data["ca.key"]) {
		t.Fatal("a second replica rewrote the TLS Secret")
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caBundle)
	if !sameCert(t, again.Data["tls.crt"], served(t, addr2, roots)) {
		t.Fatal("second replica does not serve the Secret's certificate")
	}

	// The Secret deleted: both replicas race to create it (one create
	// wins, the other adopts it), then both serve the new certificate and
	// the webhooks trust its CA.
	if err := cs.CoreV1().Secrets(signetNamespace).Delete(ctx, "signet-managed-tls", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "both replicas on the recreated Secret", func() bool {
		s, err := cs.CoreV1().Secrets(signetNamespace).Get(ctx, "signet-managed-tls", metav1.GetOptions{})
		if err != nil || bytes.Equal(s.Data["ca.key"], sec.Data["ca.key"]) {
			return false
		}
		mw, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "signet", metav1.GetOptions{})
		if err != nil || !bytes.Equal(mw.Webhooks[0].ClientConfig.CABundle, s.Data["ca.crt"]) {
			return false
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(s.Data["ca.crt"])
		return sameCert(t, s.Data["tls.crt"], served(t, addr, roots)) && sameCert(t, s.Data["tls.crt"], served(t, addr2, roots))
	})
	if _, err := cs.CoreV1().Pods("team").Create(ctx, pod("web2", reg+"/e2e/app:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("signed pod after the new CA: %v", err)
	}

	// Switching away from managed TLS: the next mode's caBundle holds
	// signet's CA and its own (tls.additionalCABundle), and the replicas
	// still running managed TLS leave it as it is; a caBundle without
	// signet's CA they set back.
	cur, err := cs.CoreV1().Secrets(signetNamespace).Get(ctx, "signet-managed-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next, err := fixture.NewClientCA()
	if err != nil {
		t.Fatal(err)
	}
	both := append(append([]byte{}, cur.Data["ca.crt"]...), next.PEM...)
	setCABundle(t, cs, both)
	time.Sleep(3 * time.Second) // three --tls-sync-interval
	mw, err = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "signet", metav1.GetOptions{})
	if err != nil || !bytes.Equal(mw.Webhooks[0].ClientConfig.CABundle, both) {
		t.Fatalf("a caBundle holding signet's CA and another was changed (%v)", err)
	}
	setCABundle(t, cs, next.PEM)
	eventually(t, 30*time.Second, "signet's CA set back", func() bool {
		mw, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "signet", metav1.GetOptions{})
		return err == nil && bytes.Equal(mw.Webhooks[0].ClientConfig.CABundle, cur.Data["ca.crt"])
	})
}

// setCABundle sets the caBundle of the "signet" mutating webhook
// configuration, retrying when signet's own patch got there first.
func setCABundle(t *testing.T, cs kubernetes.Interface, caBundle []byte) {
	t.Helper()
	ctx := context.Background()
	eventually(t, 10*time.Second, "caBundle updated", func() bool {
		mw, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "signet", metav1.GetOptions{})
		if err != nil {
			return false
		}
		mw.Webhooks[0].ClientConfig.CABundle = caBundle
		_, err = cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, mw, metav1.UpdateOptions{})
		return err == nil
	})
}

// served returns the certificate signet at addr serves, verified against
// roots; nil if it does not verify.
func served(t *testing.T, addr string, roots *x509.CertPool) []byte {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "signet." + signetNamespace + ".svc"})
	if err != nil {
		t.Logf("TLS to %s: %v", addr, err)
		return nil
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw
}

// applyChartRBAC applies the RBAC the chart renders for release "signet"
// in signetNamespace with tls.mode=managed.
func applyChartRBAC(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx := context.Background()
	out, err := exec.Command(harness.Tool(t, "helm"), "template", "signet", filepath.Join(harness.Root, "deploy", "helm", "signet"),
		"--namespace", signetNamespace, "--kube-version", "1.34.0", "--set", "tls.mode=managed", "--show-only", "templates/rbac.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	kinds := map[string]bool{}
	for _, doc := range strings.Split(string(out), "\n---") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("rendered YAML: %v", err)
		}
		decode := func(into any) {
			if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
				t.Fatalf("rendered %s: %v", meta.Kind, err)
			}
		}
		switch meta.Kind {
		case "":
			continue
		case "Role":
			var o rbacv1.Role
			decode(&o)
			_, err = cs.RbacV1().Roles(o.Namespace).Create(ctx, &o, metav1.CreateOptions{})
		case "RoleBinding":
			var o rbacv1.RoleBinding
			decode(&o)
			_, err = cs.RbacV1().RoleBindings(o.Namespace).Create(ctx, &o, metav1.CreateOptions{})
		case "ClusterRole":
			var o rbacv1.ClusterRole
			decode(&o)
			_, err = cs.RbacV1().ClusterRoles().Create(ctx, &o, metav1.CreateOptions{})
		case "ClusterRoleBinding":
			var o rbacv1.ClusterRoleBinding
			decode(&o)
			_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, &o, metav1.CreateOptions{})
		default:
			t.Fatalf("unexpected %s in templates/rbac.yaml", meta.Kind)
		}
		if err != nil {
			t.Fatalf("applying %s: %v", meta.Kind, err)
		}
		kinds[meta.Kind] = true
	}
	if !kinds["ClusterRoleBinding"] || !kinds["RoleBinding"] {
		t.Fatalf("chart RBAC rendered only %v", kinds)
	}
}

// serviceAccountKubeconfig writes a kubeconfig authenticating as the
// service account namespace/name (its user name, in no group).
func serviceAccountKubeconfig(t *testing.T, env *envtest.Environment, namespace, name string) string {
	t.Helper()
	return writeUserKubeconfig(t, env, envtest.User{Name: "system:serviceaccount:" + namespace + ":" + name})
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func sameCert(t *testing.T, pemData, der []byte) bool {
	t.Helper()
	blk, _ := pem.Decode(pemData)
	return blk != nil && der != nil && bytes.Equal(blk.Bytes, der)
}

// registerManagedWebhooks registers signet at addr by URL for Pods in the
// namespace "team", with caBundle the previous TLS mode's CA: signet
// publishes its own.
func registerManagedWebhooks(t *testing.T, cs kubernetes.Interface, addr string, caBundle []byte) {
	t.Helper()
	ctx := context.Background()
	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	timeout := int32(10)
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
	}}
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "team"}}
	url := func(p string) *string { s := "https://" + addr + p; return &s }
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "signet"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "mutate.signet.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url("/mutate"), CABundle: caBundle},
			Rules: rules, FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout,
			AdmissionReviewVersions: []string{"v1"}, NamespaceSelector: sel,
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "signet"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "validate.signet.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url("/validate"), CABundle: caBundle},
			Rules: rules, FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout,
			AdmissionReviewVersions: []string{"v1"}, NamespaceSelector: sel,
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/signet-dev/signet/test/harness"
)

// TestManagedTLS runs signet serve --tls-mode=managed against a real
// kube-apiserver whose webhooks are registered by URL with an empty
// caBundle: signet creates its CA and serving certificate in a Secret,
// publishes the CA to both webhook configurations, and Pods are then
// admitted through the API server. A second replica adopts the Secret
// instead of creating another CA.
func TestManagedTLS(t *testing.T) {
	ctx := context.Background()
	env, cs := startAPIServer(t, nil)
	reg, pol, signed, _ := signedImages(t)
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeKubeconfig(t, env, "signet")
	for _, ns := range []string{signetNamespace, "team"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	addr := harness.FreeAddr(t)
	registerManagedWebhooks(t, cs, addr)

	start := func(addr string) {
		metricsAddr := harness.FreeAddr(t)
		serve := exec.Command(harness.Bin(t, "signet"), "serve", "--policy", policyFile,
			"--tls-mode=managed", "--tls-secret", "signet-tls", "--tls-service", "signet", "--tls-extra-name", "127.0.0.1",
			"--mutating-webhook-configuration", "signet", "--validating-webhook-configuration", "signet",
			"--kubeconfig", kubeconfig, "--namespace", signetNamespace, "--addr", addr, "--metrics-addr", metricsAddr)
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

	sec, err := cs.CoreV1().Secrets(signetNamespace).Get(ctx, "signet-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the TLS Secret: %v", err)
	}
	if sec.Type != corev1.SecretTypeTLS || len(sec.Data["ca.crt"]) == 0 || len(sec.Data["tls.crt"]) == 0 {
		t.Fatalf("TLS Secret of type %s with keys %v", sec.Type, keys(sec.Data))
	}
	caBundle := sec.Data["ca.crt"]
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
	again, err := cs.CoreV1().Secrets(signetNamespace).Get(ctx, "signet-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != sec.ResourceVersion || !bytes.Equal(again.Data["ca.key"], sec.Data["ca.key"]) {
		t.Fatal("a second replica rewrote the TLS Secret")
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caBundle)
	conn, err := tls.Dial("tcp", addr2, &tls.Config{RootCAs: roots, ServerName: "signet." + signetNamespace + ".svc"})
	if err != nil {
		t.Fatalf("second replica's certificate against the published CA: %v", err)
	}
	served := conn.ConnectionState().PeerCertificates[0].Raw
	conn.Close()
	if !sameCert(t, again.Data["tls.crt"], served) {
		t.Fatal("second replica does not serve the Secret's certificate")
	}
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
	if blk == nil {
		t.Fatal("no certificate in tls.crt")
	}
	return bytes.Equal(blk.Bytes, der)
}

// registerManagedWebhooks registers signet at addr by URL for Pods in the
// namespace "team", with no caBundle: signet publishes it.
func registerManagedWebhooks(t *testing.T, cs kubernetes.Interface, addr string) {
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
			Name: "mutate.signet.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url("/mutate")},
			Rules: rules, FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout,
			AdmissionReviewVersions: []string{"v1"}, NamespaceSelector: sel,
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "signet"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "validate.signet.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url("/validate")},
			Rules: rules, FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout,
			AdmissionReviewVersions: []string{"v1"}, NamespaceSelector: sel,
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

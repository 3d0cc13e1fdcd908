package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
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

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/test/harness"
)

// TestClientCA runs signet serve --client-ca as the webhook of a
// kube-apiserver given a client certificate by its AdmissionConfiguration
// (the kubeconfig user named after the webhook URL's host:port, as
// docs/install.md configures it by Service name): Pods are admitted
// through it, and a client without that certificate — any Pod of the
// cluster — cannot reach the webhook.
func TestClientCA(t *testing.T) {
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
	ca, err := fixture.NewClientCA()
	if err != nil {
		t.Fatal(err)
	}
	clientCert, clientKey, err := ca.Issue("kube-apiserver")
	if err != nil {
		t.Fatal(err)
	}
	addr := harness.FreeAddr(t)
	b64 := base64.StdEncoding.EncodeToString
	webhookKubeconfig := write("webhook.kubeconfig", []byte(`apiVersion: v1
kind: Config
users:
- name: "`+addr+`"
  user:
    client-certificate-data: `+b64(clientCert)+`
    client-key-data: `+b64(clientKey)+`
`))
	admissionConfig := write("admission.yaml", []byte(`apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: MutatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: "`+webhookKubeconfig+`"
- name: ValidatingAdmissionWebhook
  configuration:
    apiVersion: apiserver.config.k8s.io/v1
    kind: WebhookAdmissionConfiguration
    kubeConfigFile: "`+webhookKubeconfig+`"
`))
	_, cs := startAPIServer(t, map[string]string{"admission-control-config-file": admissionConfig})
	reg, pol, signed, _ := signedImages(t)

	servingCert, servingKey, err := fixture.ServingCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := harness.FreeAddr(t)
	serve := exec.Command(harness.ImageBin(t), "serve",
		"--policy", write("policy.yaml", []byte(pol)), "--tls-cert", write("tls.crt", servingCert), "--tls-key", write("tls.key", servingKey),
		"--client-ca", write("client-ca.crt", ca.PEM), "--addr", addr, "--metrics-addr", metricsAddr, "--namespace", signetNamespace)
	log := &syncBuffer{}
	serve.Stdout, serve.Stderr = log, log
	harness.Start(t, serve)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("signet log:\n%s", log.String())
		}
	})
	// Probes use the metrics address: no client certificate there.
	harness.WaitHTTP(t, http.DefaultClient, "http://"+metricsAddr+"/readyz")

	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	timeout := int32(10)
	url := "https://" + addr + "/mutate"
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "signet"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "mutate.signet.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: servingCert},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "webhook in effect", func() bool {
		_, err := cs.CoreV1().Pods("team").Create(ctx, pod("probe", reg+"/e2e/app:unsigned"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "signet denied")
	})

	// Through the API server, which presents its client certificate: a
	// signed Pod is admitted and pinned (only signet answers that way).
	p, err := cs.CoreV1().Pods("team").Create(ctx, pod("web", reg+"/e2e/app:v1"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("signed pod through the API server: %v", err)
	}
	if got := p.Spec.Containers[0].Image; got != signed {
		t.Errorf("stored image %s, want %s", got, signed)
	}

	// Directly, as any Pod of the cluster could: refused at the TLS
	// handshake without the API server's certificate.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(servingCert)
	review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","namespace":"team","object":{"spec":{"containers":[{"name":"a","image":"` + reg + `/e2e/app:v1"}]}}}}`
	post := func(certs []tls.Certificate) (*http.Response, error) {
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
		return c.Post(url, "application/json", strings.NewReader(review))
	}
	if resp, err := post(nil); err == nil {
		resp.Body.Close()
		t.Fatalf("AdmissionReview without a client certificate answered %s", resp.Status)
	}
	pair, err := tls.X509KeyPair(clientCert, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := post([]tls.Certificate{pair})
	if err != nil {
		t.Fatalf("AdmissionReview with the API server's client certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("AdmissionReview with the API server's client certificate: %s", resp.Status)
	}
}

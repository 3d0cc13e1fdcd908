package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/test/harness"
)

// cluster is the environment every e2e subtest shares.
type cluster struct {
	cfg        *rest.Config
	cs         kubernetes.Interface
	reg        string // registry host:port
	signed     name.Digest
	signedInit name.Digest
	keyPEM     string
	policyFile string
	signetLog  *syncBuffer
	signetAddr string

	// secure is a registry with TLS (private CA) and basic auth; private
	// and vauth are images in it signed by the cosign CLI, whose signatures
	// are read with a workload's pull secrets and with a validator's
	// Secret respectively.
	secure         *harness.SecureRegistry
	secureCA       string // its CA certificate file
	private, vauth name.Digest
	kubeconfig     string // signet's
	// notary is signed by the notation CLI with a certificate the policy
	// trusts, notaryOther with one it does not.
	notary, notaryOther name.Digest
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMain runs the tests, then stops what the harness started. Every test
// starts a control plane, registries and signet of its own and runs in
// parallel with the others: they mostly wait on their processes, so two at
// a time take about 70 s instead of 100.
func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}

// assets builds (first use) and returns the control-plane binaries.
func assets(t *testing.T) string { t.Helper(); return harness.K8sAssets(t) }

func writeKubeconfig(t *testing.T, env *envtest.Environment, user string) string {
	t.Helper()
	return writeUserKubeconfig(t, env, envtest.User{Name: user, Groups: []string{"system:masters"}})
}

// writeUserKubeconfig writes a kubeconfig authenticating as user (a client
// certificate of the API server's CA) and returns its path.
func writeUserKubeconfig(t *testing.T, env *envtest.Environment, user envtest.User) string {
	t.Helper()
	return harness.Kubeconfig(t, env, user)
}

// fileWriter returns a function that writes a file into dir and returns
// its path.
func fileWriter(t *testing.T, dir string) func(name string, b []byte) string {
	return func(name string, b []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		harness.ReplaceFile(t, p, b)
		return p
	}
}

// signetNamespace is signet's own namespace, where validators' Secrets live.
const signetNamespace = "signet-system"

// validatorSecret is the Secret the "signed-auth" validator reads its
// registry credentials from.
const validatorSecret = "signet-registry"

// policyYAML is the policy the cluster starts with.
func policyYAML(c *cluster, notaryCert string) string {
	return `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
insecureRegistries: ["` + c.reg + `"]
validators:
- name: signed
  type: cosign
  trustRoots:
  - name: ci
    key: |
      ` + testutil.Indent(c.keyPEM, 6) + `
- name: signed-auth
  type: cosign
  auth: {secretName: ` + validatorSecret + `}
  trustRoots:
  - name: ci
    key: |
      ` + testutil.Indent(c.keyPEM, 6) + `
- name: notary
  type: notation
  trustRoots:
  - name: release
    cert: |
      ` + testutil.Indent(notaryCert, 6) + `
- {name: allow, type: static, approve: true}
- {name: deny, type: static, approve: false}
rules:
- {pattern: "` + c.reg + `/e2e/**", validator: signed}
- {pattern: "` + c.reg + `/warn/**", validator: signed, with: {mode: warn}}
- {pattern: "` + c.reg + `/notary/**", validator: notary}
- {pattern: "` + c.secure.Host + `/private/**", validator: signed}
- {pattern: "` + c.secure.Host + `/vauth/**", validator: signed-auth}
`
}

func setup(t *testing.T) *cluster {
	t.Helper()
	dir := assets(t)
	env := &envtest.Environment{BinaryAssetsDirectory: dir, ControlPlaneStartTimeout: 60 * time.Second, ControlPlaneStopTimeout: 30 * time.Second}
	// Image volumes (beta, off by default in 1.34): Pods can pull them, so
	// signet must check them.
	env.ControlPlane.GetAPIServer().Configure().Append("feature-gates", "ImageVolume=true")
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	c := &cluster{cfg: cfg, cs: kubernetes.NewForConfigOrDie(cfg)}

	startControllers(t, env, dir)

	// A registry and images signed by the real cosign CLI.
	c.reg = harness.StartDistribution(t).Host
	cos := harness.NewCosign(t)
	key, pub := cos.GenKey(t, harness.Tool(t, "cosign2"), "ci")
	c.keyPEM = pub
	c.signed = harness.Push(t, c.reg, "e2e/app:v1")
	cos.SignV2(t, key, c.signed)
	c.signedInit = harness.Push(t, c.reg, "e2e/init:v1")
	cos.SignV2(t, key, c.signedInit)
	harness.Push(t, c.reg, "e2e/app:unsigned")
	harness.Push(t, c.reg, "warn/app:unsigned")

	// A private registry (TLS with a private CA, htpasswd) and images the
	// cosign CLI signs there with the registry's credentials.
	c.secure = harness.StartSecureDistribution(t)
	caFile := c.secure.CAFile(t)
	c.secureCA = caFile
	c.private = pushSecure(t, c.secure, "private/app:v1")
	c.vauth = pushSecure(t, c.secure, "vauth/app:v1")
	cos.Env = []string{"SSL_CERT_FILE=" + caFile, "DOCKER_CONFIG=" + c.secure.DockerConfig(t)}
	for _, img := range []name.Digest{c.private, c.vauth} {
		cos.Run(t, harness.Tool(t, "cosign2"), "sign", "--yes", "--key", key, "--tlog-upload=false", img.String())
	}
	cos.Env = nil

	// Images signed by the notation CLI: one with a certificate the policy
	// trusts, one with another.
	release, other := harness.NewNotation(t), harness.NewNotation(t)
	releaseCert := release.TestCert(t, "release.example")
	other.TestCert(t, "other.example")
	c.notary = harness.Push(t, c.reg, "notary/app:v1")
	release.Run(t, "sign", "--insecure-registry", c.notary.String())
	c.notaryOther = harness.Push(t, c.reg, "notary/app:other")
	other.Run(t, "sign", "--insecure-registry", c.notaryOther.String())

	// signet serve, as a process, with a serving certificate for 127.0.0.1.
	work := t.TempDir()
	c.policyFile = filepath.Join(work, "policy.yaml")
	os.WriteFile(c.policyFile, []byte(policyYAML(c, releaseCert)), 0o600)
	certPEM, keyPEM, err := fixture.ServingCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(work, "tls.crt"), certPEM, 0o600)
	os.WriteFile(filepath.Join(work, "tls.key"), keyPEM, 0o600)
	c.signetAddr = harness.FreeAddr(t)
	c.kubeconfig = writeKubeconfig(t, env, "signet")
	serve := exec.Command(harness.ImageBin(t), "serve",
		"--policy", c.policyFile, "--tls-cert", filepath.Join(work, "tls.crt"), "--tls-key", filepath.Join(work, "tls.key"),
		"--addr", c.signetAddr, "--metrics-addr", "", "--kubeconfig", c.kubeconfig,
		"--namespace", signetNamespace, "--reload-interval", "200ms", "--registry-ca", caFile,
		// Subtests admit the same images under different credentials and
		// policies and check each path: results are not reused between
		// admissions here (the cache is tested in internal/cache,
		// test/interop and make bench).
		"--cache-ttl=-1s", "--cache-failed-ttl=-1s", "--tag-ttl=-1s")
	serve.Env = append(os.Environ(), "DOCKER_CONFIG="+work)
	c.signetLog = &syncBuffer{}
	serve.Stdout, serve.Stderr = c.signetLog, c.signetLog
	harness.Start(t, serve)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	harness.WaitHTTP(t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, "https://"+c.signetAddr+"/readyz")

	c.registerWebhooks(t, certPEM)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("signet log:\n%s", c.signetLog.String())
		}
	})
	return c
}

// startControllers runs kube-controller-manager (from the control-plane
// binaries in dir) against env's API server: Deployment → ReplicaSet → Pod,
// Jobs, CronJobs.
func startControllers(t *testing.T, env *envtest.Environment, dir string) {
	t.Helper()
	kcm := exec.Command(filepath.Join(dir, "kube-controller-manager"),
		"--kubeconfig="+writeKubeconfig(t, env, "kcm"), "--secure-port=0", "--leader-elect=false",
		"--use-service-account-credentials=false",
		"--controllers=deployment-controller,replicaset-controller,job-controller,cronjob-controller")
	kcmLog := &syncBuffer{}
	kcm.Stdout, kcm.Stderr = kcmLog, kcmLog
	harness.Start(t, kcm)
}

// pushSecure pushes a random image to the private registry.
func pushSecure(t *testing.T, reg *harness.SecureRegistry, repoTag string) name.Digest {
	t.Helper()
	d, err := fixture.PushImage(reg.Host+"/"+repoTag, reg.RemoteOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// registerWebhooks registers signet by URL, as the Helm chart does by
// Service: fail closed, no side effects, kube-system and signet's namespace
// excluded, and a signet.dev/ignore=true opt-out label. Namespaces labelled
// e2e-scope=pods get a pods-only webhook instead (the configuration some
// GitOps users choose), which lets a Deployment in but checks its Pods.
func (c *cluster) registerWebhooks(t *testing.T, caPEM []byte) {
	t.Helper()
	ctx := context.Background()
	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	ifNeeded := admissionregistrationv1.IfNeededReinvocationPolicy
	timeout := int32(10)
	ops := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	allKinds := []admissionregistrationv1.RuleWithOperations{
		{Operations: ops, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods", "pods/ephemeralcontainers", "replicationcontrollers", "podtemplates"}}},
		{Operations: ops, Rule: admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments", "replicasets", "statefulsets", "daemonsets"}}},
		{Operations: ops, Rule: admissionregistrationv1.Rule{APIGroups: []string{"batch"}, APIVersions: []string{"v1"}, Resources: []string{"jobs", "cronjobs"}}},
	}
	podsOnly := []admissionregistrationv1.RuleWithOperations{
		{Operations: ops, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods", "pods/ephemeralcontainers"}}},
	}
	selector := func(scope metav1.LabelSelectorOperator) *metav1.LabelSelector {
		return &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", "signet-system"}},
			{Key: "signet.dev/ignore", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"true"}},
			{Key: "e2e-scope", Operator: scope, Values: []string{"pods"}},
		}}
	}
	url := func(p string) *string { s := "https://" + c.signetAddr + p; return &s }
	mw := func(name, path string, rules []admissionregistrationv1.RuleWithOperations, sel *metav1.LabelSelector) admissionregistrationv1.MutatingWebhook {
		return admissionregistrationv1.MutatingWebhook{
			Name: name, ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url(path), CABundle: caPEM},
			Rules: rules, FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout,
			AdmissionReviewVersions: []string{"v1"}, NamespaceSelector: sel, ReinvocationPolicy: &ifNeeded,
		}
	}
	if _, err := c.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "signet"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			mw("mutate.signet.dev", "/mutate", allKinds, selector(metav1.LabelSelectorOpNotIn)),
			mw("pods.mutate.signet.dev", "/mutate", podsOnly, selector(metav1.LabelSelectorOpIn)),
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "signet"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "validate.signet.dev", ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: url("/validate"), CABundle: caPEM},
			Rules: allKinds, FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout,
			AdmissionReviewVersions: []string{"v1"}, NamespaceSelector: selector(metav1.LabelSelectorOpNotIn),
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Webhook configurations take effect asynchronously: dry-run an
	// unsigned Pod until signet denies it.
	ns := c.namespace(t, nil)
	eventually(t, 30*time.Second, "webhook in effect", func() bool {
		_, err := c.cs.CoreV1().Pods(ns).Create(ctx, pod("probe", c.reg+"/e2e/app:unsigned"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "signet denied")
	})
}

var nsCount int
var nsMu sync.Mutex

// namespace creates a namespace with labels and returns its name.
func (c *cluster) namespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	nsMu.Lock()
	nsCount++
	name := fmt.Sprintf("e2e-%d", nsCount)
	nsMu.Unlock()
	if _, err := c.cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return name
}

func pod(name string, images ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for i, img := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img})
	}
	return p
}

func eventually(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if f() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

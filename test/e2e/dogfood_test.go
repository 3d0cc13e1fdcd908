package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/test/harness"
)

// dogfoodVersion is the version make release stamps into the image here:
// `signet version` of the extracted binary shows it, which a binary built
// from source by the harness would not.
const dogfoodVersion = "v0.0.0-dogfood"

// TestDogfood is signet verifying itself: make release (hack/release.sh)
// builds, pushes and signs signet's image to a local registry with a new
// cosign key; the signet binary is taken from the pushed image's
// linux/amd64 layer (the host's platform: harness.ExtractSignet, as for the
// rest of the suite) and serves as the webhook of a real kube-apiserver,
// with the policy the chart renders for selfVerification.key = that key.
// A Pod running the released image is admitted and pinned; the same index
// copied without its signatures to a repository the same value covers is
// denied.
func TestDogfood(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and releases signet's image")
	}
	if runtime.GOOS != "linux" {
		t.Skipf("runs signet from its image, which holds linux binaries; this host is %s", runtime.GOOS)
	}
	ctx := context.Background()
	env, cs := startAPIServer(t, nil)
	reg := testutil.NewRegistry(t, false)
	cos := harness.NewCosign(t)
	key, pub := cos.GenKey(t, harness.Tool(t, "cosign2"), "release")

	// make release, for this machine's platform only (linux/amd64 on CI:
	// the other adds a cross-compile and nothing that can run here;
	// test/image checks both).
	release := exec.Command(filepath.Join(harness.Root, "hack", "release.sh"))
	release.Env = append(os.Environ(),
		"IMAGE_REPO="+reg.Host+"/signet", "COSIGN_KEY="+key, "COSIGN_PASSWORD=interop", "COSIGN_TLOG=false",
		"IMAGE_INSECURE=1", "IMAGE_FLAGS=--platforms linux/"+harness.ImagePlatform().Architecture, "VERSION="+dogfoodVersion,
		"RELEASE_DIR="+t.TempDir(), "SIGSTORE_ID_TOKEN=",
		"DOCKER_CONFIG="+filepath.Join(cos.Dir, ".docker"), "TUF_ROOT="+filepath.Join(cos.Dir, ".sigstore"))
	code, stdout, stderr := harness.ExitCode(t, release)
	if code != 0 {
		t.Fatalf("hack/release.sh: exit %d\n%s", code, stderr)
	}
	released, err := name.NewDigest(strings.TrimSpace(stdout))
	if err != nil {
		t.Fatalf("hack/release.sh printed %q: %v", stdout, err)
	}

	// The same index, pushed without its signatures to a mirror repository.
	idx, err := remote.Index(released)
	if err != nil {
		t.Fatal(err)
	}
	mirror, err := name.NewTag(reg.Host + "/mirror/signet:" + dogfoodVersion)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(mirror, idx); err != nil {
		t.Fatal(err)
	}

	work := t.TempDir()
	write := fileWriter(t, work)
	bin := filepath.Join(work, "signet")
	if err := harness.ExtractSignet(idx, harness.ImagePlatform(), bin); err != nil {
		t.Fatalf("%s: %v", released, err)
	}
	if out, err := exec.Command(bin, "version").CombinedOutput(); err != nil || !strings.Contains(string(out), dogfoodVersion) {
		t.Fatalf("signet version of the binary from the image: %v\n%s", err, out)
	}

	// The chart's policy, with the release key and both repositories.
	values, err := yaml.Marshal(map[string]any{
		"image":            map[string]any{"repository": reg.Host + "/signet", "digest": released.DigestStr()},
		"selfVerification": map[string]any{"key": pub, "repositories": []string{reg.Host + "/signet", mirror.Context().Name()}},
		"policy":           map[string]any{"insecureRegistries": []string{reg.Host}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := exec.Command(harness.Tool(t, "helm"), "template", "signet", filepath.Join(harness.Root, "deploy", "helm", "signet"),
		"--namespace", signetNamespace, "--kube-version", "1.34.0", "--values", write("values.yaml", values),
		"--show-only", "templates/configmap.yaml").Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, harness.ExitStderr(err))
	}
	var cm corev1.ConfigMap
	if err := yaml.Unmarshal(rendered, &cm); err != nil || cm.Data["policy.yaml"] == "" {
		t.Fatalf("helm template rendered no policy (%v):\n%s", err, rendered)
	}

	servingCert, servingKey, err := fixture.ServingCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	addr := harness.FreeAddr(t)
	serve := exec.Command(bin, "serve",
		"--policy", write("policy.yaml", []byte(cm.Data["policy.yaml"])),
		"--tls-cert", write("tls.crt", servingCert), "--tls-key", write("tls.key", servingKey),
		"--addr", addr, "--metrics-addr", "", "--namespace", signetNamespace,
		"--kubeconfig", writeKubeconfig(t, env, "signet"))
	serve.Env = append(os.Environ(), "DOCKER_CONFIG="+work)
	log := &syncBuffer{}
	serve.Stdout, serve.Stderr = log, log
	harness.Start(t, serve)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("policy:\n%s\nsignet log:\n%s", cm.Data["policy.yaml"], log.String())
		}
	})
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(servingCert)
	harness.WaitHTTP(t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}, "https://"+addr+"/readyz")
	registerDogfoodWebhooks(t, cs, addr, servingCert)

	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	unsigned := mirror.Context().Digest(released.DigestStr()).String()
	eventually(t, 30*time.Second, "webhook in effect", func() bool {
		_, err := cs.CoreV1().Pods("team").Create(ctx, pod("probe", unsigned), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "signet denied")
	})

	t.Run("released image is admitted and pinned", func(t *testing.T) {
		p, err := cs.CoreV1().Pods("team").Create(ctx, pod("signet", reg.Host+"/signet:"+dogfoodVersion), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("signet's released image: %v", err)
		}
		if got := p.Spec.Containers[0].Image; got != released.String() {
			t.Errorf("stored image %s, want %s", got, released)
		}
	})
	t.Run("same image re-pushed unsigned is denied", func(t *testing.T) {
		for i, img := range []string{unsigned, mirror.String()} {
			_, err := cs.CoreV1().Pods("team").Create(ctx, pod("mirror-"+string(rune('a'+i)), img), metav1.CreateOptions{})
			if err == nil || !strings.Contains(err.Error(), "signet denied") || !strings.Contains(err.Error(), "no cosign signatures found") {
				t.Errorf("%s: %v, want denied for want of a signature", img, err)
			}
		}
	})
}

// registerDogfoodWebhooks registers signet at addr, by URL, as the mutating
// and validating webhook for Pods outside signet's namespace, failing
// closed.
func registerDogfoodWebhooks(t *testing.T, cs kubernetes.Interface, addr string, caPEM []byte) {
	t.Helper()
	ctx := context.Background()
	fail, none := admissionregistrationv1.Fail, admissionregistrationv1.SideEffectClassNone
	timeout := int32(10)
	rules := []admissionregistrationv1.RuleWithOperations{{
		Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
	}}
	selector := &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"kube-system", signetNamespace}},
	}}
	client := func(path string) admissionregistrationv1.WebhookClientConfig {
		url := "https://" + addr + path
		return admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM}
	}
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "signet"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "mutate.signet.dev", ClientConfig: client("/mutate"), Rules: rules, NamespaceSelector: selector,
			FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "signet"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "validate.signet.dev", ClientConfig: client("/validate"), Rules: rules, NamespaceSelector: selector,
			FailurePolicy: &fail, SideEffects: &none, TimeoutSeconds: &timeout, AdmissionReviewVersions: []string{"v1"},
		}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/signet-dev/signet/test/harness"
)

// pullSecret creates a kubernetes.io/dockerconfigjson Secret with the
// private registry's credentials in ns.
func (c *cluster) pullSecret(t *testing.T, ns, name string) {
	t.Helper()
	_, err := c.cs.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: c.secure.DockerConfigJSON()},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// testRegistryAuth: signet reads a private registry (TLS with a private
// CA, htpasswd) with the credentials the kubelet would pull with — the
// Pod's imagePullSecrets, its service account's — and a validator's own
// Secret; never anonymously instead.
func testRegistryAuth(t *testing.T, c *cluster) {
	ctx := context.Background()
	privateTag := c.secure.Host + "/private/app:v1"
	pinned := c.secure.Host + "/private/app@" + c.private.DigestStr()

	t.Run("pod with imagePullSecrets is verified with them and pinned", func(t *testing.T) {
		ns := c.namespace(t, nil)
		c.pullSecret(t, ns, "regcred")
		p := pod("web", privateTag)
		p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
		got, err := c.cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := got.Spec.Containers[0].Image; img != pinned {
			t.Errorf("stored image %s, want %s", img, pinned)
		}

		// The same pod without them: the registry refuses signet, and the
		// denial says so (inconclusive, not a verdict on the image).
		_, err = c.cs.CoreV1().Pods(ns).Create(ctx, pod("anonymous", privateTag), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), c.secure.Host) || !strings.Contains(err.Error(), "HTTP 401") {
			t.Fatalf("without pull secrets: err = %v", err)
		}
		// signet's log reaches the test through a pipe: wait for it.
		eventually(t, 10*time.Second, "the denial logged as inconclusive", func() bool {
			return strings.Contains(c.signetLog.String(), `"outcome":"inconclusive"`)
		})
	})

	t.Run("pod whose service account has the pull secret is verified with it", func(t *testing.T) {
		ns := c.namespace(t, nil)
		c.pullSecret(t, ns, "sa-regcred")
		if _, err := c.cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
			ObjectMeta:       metav1.ObjectMeta{Name: "builder"},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "sa-regcred"}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		p := pod("web", privateTag)
		p.Spec.ServiceAccountName = "builder"
		got, err := c.cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := got.Spec.Containers[0].Image; img != pinned {
			t.Errorf("stored image %s, want %s", img, pinned)
		}
	})

	t.Run("validator with auth.secretName reads signatures with its Secret", func(t *testing.T) {
		// By digest: no tag to resolve, so the only registry reads are the
		// validator's, and the workload has no credentials of its own.
		img := c.vauth.String()
		ns := c.namespace(t, nil)
		_, err := c.cs.CoreV1().Pods(ns).Create(ctx, pod("early", img), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), `auth.secretName "`+validatorSecret+`"`) || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("before the Secret exists: err = %v", err)
		}
		if _, err := c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: signetNamespace}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		c.pullSecret(t, signetNamespace, validatorSecret)
		if _, err := c.cs.CoreV1().Pods(ns).Create(ctx, pod("web", img), metav1.CreateOptions{}); err != nil {
			t.Fatalf("with the Secret: %v", err)
		}

		// signet verify reads the same Secret through --kubeconfig; without
		// it, it says so and uses the Docker config (empty here: 401).
		verify := func(args ...string) (int, string, string) {
			cmd := exec.Command(harness.ImageBin(t), append([]string{"verify", "--policy", c.policyFile, "--registry-ca", c.secureCA}, append(args, img)...)...)
			cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
			return harness.ExitCode(t, cmd)
		}
		if code, out, errOut := verify("--kubeconfig", c.kubeconfig, "--namespace", signetNamespace); code != 0 || !strings.Contains(out, "verified") {
			t.Errorf("signet verify --kubeconfig: exit %d\n%s%s", code, out, errOut)
		}
		code, out, errOut := verify()
		if code != 3 || !strings.Contains(out, "HTTP 401") || !strings.Contains(errOut, `note: validator "signed-auth" reads its credentials from Secret "`+validatorSecret+`"`) {
			t.Errorf("signet verify without --kubeconfig: exit %d\n%s%s", code, out, errOut)
		}
	})
}

// testNotation: Notary Project signatures made by the notation CLI,
// verified through the API server.
func testNotation(t *testing.T, c *cluster) {
	ctx := context.Background()
	t.Run("notation-signed pod is admitted and pinned", func(t *testing.T) {
		ns := c.namespace(t, nil)
		got, err := c.cs.CoreV1().Pods(ns).Create(ctx, pod("web", c.reg+"/notary/app:v1"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img, want := got.Spec.Containers[0].Image, c.reg+"/notary/app@"+c.notary.DigestStr(); img != want {
			t.Errorf("stored image %s, want %s", img, want)
		}
	})
	t.Run("pod signed with another certificate is denied", func(t *testing.T) {
		ns := c.namespace(t, nil)
		_, err := c.cs.CoreV1().Pods(ns).Create(ctx, pod("web", c.reg+"/notary/app:other"), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "signet denied 1 image(s)") || !strings.Contains(err.Error(), "0 of 1 required valid signatures from trust roots [release] (each from a distinct signer); 1 Notation signature(s) found") {
			t.Fatalf("err = %v", err)
		}
	})
}

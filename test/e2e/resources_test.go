package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/test/harness"
)

// rolloutsModule is the Argo Rollouts release whose Rollout CRD
// (manifests/crds/rollout-crd.yaml) the test installs, read from the Go
// module cache.
const rolloutsModule = "github.com/argoproj/argo-rollouts@v1.10.2"

// rolloutResources declares Argo Rollouts' Rollout: a PodTemplateSpec at
// spec.template.
const rolloutResources = `resources:
- group: argoproj.io
  version: v1alpha1
  kind: Rollout
  images:
  - podTemplate: /spec/template
`

var rollouts = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

// rolloutCRD returns the path of the Rollout CRD in the module cache,
// downloading the module through the Go module proxy when it is not there.
func rolloutCRD(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", rolloutsModule)
	cmd.Dir = t.TempDir() // outside signet's module: nothing is added to go.mod
	out, err := cmd.Output()
	var mod struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &mod); err != nil || jerr != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s (the Argo Rollouts CRD this test installs): %v %s\n%s%s", rolloutsModule, err, mod.Error, out, harness.ExitStderr(err))
	}
	return filepath.Join(mod.Dir, "manifests", "crds", "rollout-crd.yaml")
}

// rollout is an Argo Rollout of one canary step running image, with an
// init container running initImage.
func rollout(name, image, initImage string) *unstructured.Unstructured {
	labels := map[string]any{"app": name}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"replicas": int64(1),
			"selector": map[string]any{"matchLabels": labels},
			"strategy": map[string]any{"canary": map[string]any{"steps": []any{map[string]any{"setWeight": int64(20)}}}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{
					"initContainers": []any{map[string]any{"name": "init", "image": initImage}},
					"containers":     []any{map[string]any{"name": "app", "image": image}},
				},
			},
		},
	}}
}

// TestResources: with the real Argo Rollouts CRD installed and a policy
// declaring Rollout (spec.template is a PodTemplateSpec), the chart's
// webhook rules send Rollouts to signet, which denies one with an unsigned
// image (in a container or an init container) and stores a signed one
// pinned to the verified digests; changing a stored Rollout's image to an
// unsigned one is denied too.
func TestResources(t *testing.T) {
	env, cs := startAPIServer(t, nil)
	ctx := context.Background()
	crd := rolloutCRD(t)
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{crd}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("installing %s: %v", crd, err)
	}
	reg, pol, signed, unsigned := signedImages(t)
	pol += rolloutResources

	work := t.TempDir()
	write := fileWriter(t, work)
	servingCert, servingKey, err := fixture.ServingCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	addr := harness.FreeAddr(t)
	serve := exec.Command(harness.ImageBin(t), "serve", "--policy", write("policy.yaml", []byte(pol)),
		"--tls-cert", write("tls.crt", servingCert), "--tls-key", write("tls.key", servingKey),
		"--addr", addr, "--metrics-addr", "", "--namespace", signetNamespace,
		"--cache-ttl=-1s", "--cache-failed-ttl=-1s", "--tag-ttl=-1s")
	serve.Env = append(os.Environ(), "DOCKER_CONFIG="+work)
	log := &syncBuffer{}
	serve.Stdout, serve.Stderr = log, log
	harness.Start(t, serve)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("signet log:\n%s", log.String())
		}
	})
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(servingCert)
	harness.WaitHTTP(t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}, "https://"+addr+"/readyz")

	// The chart's webhooks, with the policy's resources in its values: the
	// Rollout rule comes from them.
	resources, err := json.Marshal([]any{map[string]any{"group": "argoproj.io", "version": "v1alpha1", "kind": "Rollout", "images": []any{map[string]any{"podTemplate": "/spec/template"}}}})
	if err != nil {
		t.Fatal(err)
	}
	applyChartWebhooks(t, cs, addr, servingCert, "--set-json", "policy.resources="+string(resources))

	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ri := dynamic.NewForConfigOrDie(env.Config).Resource(rollouts).Namespace("team")
	eventually(t, 30*time.Second, "webhook in effect for Rollouts", func() bool {
		_, err := ri.Create(ctx, rollout("probe", reg+"/e2e/app:unsigned", reg+"/e2e/app:v1"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil && strings.Contains(err.Error(), "signet denied")
	})
	signedPin := reg + "/e2e/app@" + strings.SplitN(signed, "@", 2)[1]

	t.Run("a rollout with an unsigned image is denied", func(t *testing.T) {
		for name, images := range map[string][2]string{
			"unsigned-app":  {reg + "/e2e/app:unsigned", reg + "/e2e/app:v1"},
			"unsigned-init": {reg + "/e2e/app:v1", reg + "/e2e/app:unsigned"},
			"unsigned-pin":  {unsigned, reg + "/e2e/app:v1"},
		} {
			_, err := ri.Create(ctx, rollout(name, images[0], images[1]), metav1.CreateOptions{})
			if err == nil || !strings.Contains(err.Error(), "signet denied 1 image(s)") || !strings.Contains(err.Error(), "no cosign signatures found") {
				t.Errorf("%s: err = %v", name, err)
			}
		}
	})

	t.Run("a signed rollout is stored pinned to the verified digest", func(t *testing.T) {
		got, err := ri.Create(ctx, rollout("web", reg+"/e2e/app:v1", reg+"/e2e/app:v1"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, section := range []string{"containers", "initContainers"} {
			cs, _, _ := unstructured.NestedSlice(got.Object, "spec", "template", "spec", section)
			if len(cs) != 1 || cs[0].(map[string]any)["image"] != signedPin {
				t.Errorf("stored %s %v, want the image %s", section, cs, signedPin)
			}
		}

		// Its image changed to an unsigned one: denied.
		patch := `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"` + reg + `/e2e/app:unsigned"}]`
		if _, err := ri.Patch(ctx, "web", types.JSONPatchType, []byte(patch), metav1.PatchOptions{}); err == nil || !strings.Contains(err.Error(), "containers[app]") {
			t.Errorf("patching the rollout to an unsigned image: err = %v", err)
		}
	})

	t.Run("the decision log names the rollout", func(t *testing.T) {
		eventually(t, 5*time.Second, "the rollout's decision", func() bool {
			for _, l := range strings.Split(log.String(), "\n") {
				if strings.Contains(l, `"kind":"Rollout"`) && strings.Contains(l, `"name":"web"`) && strings.Contains(l, `"decision":"allowed"`) &&
					strings.Contains(l, `"/spec/template/spec/containers/0/image"`) {
					return true
				}
			}
			return false
		})
	})
}

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
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/policy"
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
	t.Parallel()
	env, cs := startAPIServer(t, nil)
	ctx := context.Background()
	crd := rolloutCRD(t)
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{crd, filepath.Join(harness.Root, "deploy", "crds")}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("installing %s and deploy/crds: %v", crd, err)
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

	t.Run("the policy CRDs check resources", func(t *testing.T) {
		testResourcesSchema(t, dynamic.NewForConfigOrDie(env.Config))
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

// testResourcesSchema: a ClusterImagePolicy declaring resources is stored;
// the schema refuses, with the field path, what it can say is wrong with
// them (and lint finds the same spec wrong at that path); a namespaced
// ImagePolicy may not declare resources.
func testResourcesSchema(t *testing.T, dc dynamic.Interface) {
	ctx := context.Background()
	resource := func() map[string]any {
		return map[string]any{"group": "argoproj.io", "version": "v1alpha1", "kind": "Rollout", "images": []any{
			map[string]any{"podTemplate": "/spec/template"},
			map[string]any{"expression": `object.spec.?extraImages.orValue([]).transformList(i, s, "/spec/extraImages/" + string(i))`},
		}}
	}
	object := func(kind string, edit func(r map[string]any)) *unstructured.Unstructured {
		r := resource()
		if edit != nil {
			edit(r)
		}
		o := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "signet.dev/v1alpha1", "kind": kind, "metadata": map[string]any{"name": "custom"},
			"spec": map[string]any{
				"validators": []any{map[string]any{"name": "allow", "type": "static", "approve": true}},
				"rules":      []any{map[string]any{"pattern": "**", "validator": "allow"}},
				"resources":  []any{r},
			}}}
		if kind == "ImagePolicy" {
			o.SetNamespace("team")
		}
		return o
	}
	create := func(o *unstructured.Unstructured) error {
		gvr := schema.GroupVersionResource{Group: "signet.dev", Version: "v1alpha1", Resource: "clusterimagepolicies"}
		if o.GetKind() == "ImagePolicy" {
			_, err := dc.Resource(schema.GroupVersionResource{Group: "signet.dev", Version: "v1alpha1", Resource: "imagepolicies"}).Namespace(o.GetNamespace()).
				Create(ctx, o, metav1.CreateOptions{FieldValidation: "Strict", DryRun: []string{metav1.DryRunAll}})
			return err
		}
		_, err := dc.Resource(gvr).Create(ctx, o, metav1.CreateOptions{FieldValidation: "Strict", DryRun: []string{metav1.DryRunAll}})
		return err
	}
	valid := object("ClusterImagePolicy", nil)
	b, err := json.Marshal(valid.Object)
	if err != nil {
		t.Fatal(err)
	}
	if r := policy.Lint(b); !r.Valid() {
		t.Fatalf("lint: %+v", r.Errors)
	}
	if err := create(valid); err != nil {
		t.Fatalf("the API server refuses a ClusterImagePolicy declaring resources: %v", err)
	}
	for _, tc := range []struct {
		name, kind string
		edit       func(r map[string]any)
		field, msg string
	}{
		{"both forms in one entry", "ClusterImagePolicy", func(r map[string]any) { r["images"].([]any)[0].(map[string]any)["expression"] = "[]" },
			"spec.resources[0].images[0]", "exactly one of expression and podTemplate is required"},
		{"podTemplate not a pointer", "ClusterImagePolicy", func(r map[string]any) { r["images"].([]any)[0].(map[string]any)["podTemplate"] = "spec.template" },
			"spec.resources[0].images[0].podTemplate", "should match"},
		{"kind in lower case", "ClusterImagePolicy", func(r map[string]any) { r["kind"] = "rollout" }, "spec.resources[0].kind", "should match"},
		{"no images", "ClusterImagePolicy", func(r map[string]any) { r["images"] = []any{} }, "spec.resources[0].images", "should have at least 1 items"},
		{"resources in a namespace's policy", "ImagePolicy", nil, "spec.resources", "resources may only be declared by a ClusterImagePolicy"},
	} {
		o := object(tc.kind, tc.edit)
		if err := create(o); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.field) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: the API server: %v\nwant an Invalid error at %s: %s", tc.name, err, tc.field, tc.msg)
		}
		if tc.kind == "ImagePolicy" {
			continue // lint takes a file: the cluster's policy, which may declare resources
		}
		b, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		if r := policy.Lint(b); !slices.ContainsFunc(r.Errors, func(e policy.FieldError) bool { return strings.HasPrefix(e.Field, tc.field) }) {
			t.Errorf("%s: lint: %+v, want an error at %s", tc.name, r.Errors, tc.field)
		}
	}
}

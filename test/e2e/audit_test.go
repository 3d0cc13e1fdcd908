package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/signet-dev/signet/internal/kube"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/test/harness"
)

// startAPIServer starts kube-apiserver and etcd only (no webhook, no
// controllers), with image volumes on and the given API server flags.
func startAPIServer(t *testing.T, flags map[string]string) (*envtest.Environment, kubernetes.Interface) {
	t.Helper()
	env := &envtest.Environment{BinaryAssetsDirectory: assets(t), ControlPlaneStartTimeout: 60 * time.Second, ControlPlaneStopTimeout: 30 * time.Second}
	args := env.ControlPlane.GetAPIServer().Configure()
	args.Append("feature-gates", "ImageVolume=true")
	for k, v := range flags {
		args.Set(k, v)
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	return env, kubernetes.NewForConfigOrDie(cfg)
}

// signedImages pushes e2e/app:v1, signed by the cosign CLI, and
// e2e/app:unsigned to a new registry, and returns a policy requiring
// signatures for e2e/**, with the digests.
func signedImages(t *testing.T) (reg, policy, signed, unsigned string) {
	t.Helper()
	reg = harness.StartDistribution(t).Host
	cos := harness.NewCosign(t)
	key, pub := cos.GenKey(t, harness.Tool(t, "cosign2"), "ci")
	s := harness.Push(t, reg, "e2e/app:v1")
	cos.SignV2(t, key, s)
	u := harness.Push(t, reg, "e2e/app:unsigned")
	policy = `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
metadata: {name: audit}
insecureRegistries: ["` + reg + `"]
validators:
- name: signed
  type: cosign
  trustRoots:
  - name: ci
    key: |
      ` + testutil.Indent(pub, 6) + `
rules:
- {pattern: "` + reg + `/e2e/**", validator: signed}
`
	return reg, policy, s.String(), u.String()
}

type auditOutput struct {
	Policy  string `json:"policy"`
	Objects int    `json:"objectsAudited"`
	Denied  []struct {
		Kind, Namespace, Name string
		Images                []struct{ Container, Image, Outcome, Reason string }
	} `json:"denied"`
}

// TestAuditCluster creates, in a cluster without signet's webhook, objects
// whose images the policy denies in every place an image hides — an init
// container of a Deployment's template, an ephemeral container, an image
// volume of a PodTemplate, an unsigned image pinned by digest — among
// objects it allows (over ListPageSize of them, so the listing pages), and
// checks that `signet audit cluster` names exactly the denied ones.
func TestAuditCluster(t *testing.T) {
	t.Parallel()
	env, cs := startAPIServer(t, nil)
	ctx := context.Background()
	reg, pol, signed, unsigned := signedImages(t)
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeKubeconfig(t, env, "auditor")
	mustCreate := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, ns := range []string{"team-a", "team-b", "team-c"} {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		mustCreate(err)
	}

	// Denied.
	d := deployment("web", reg+"/e2e/app:v1")
	d.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "init", Image: reg + "/e2e/app:unsigned"}}
	_, err := cs.AppsV1().Deployments("team-a").Create(ctx, d, metav1.CreateOptions{})
	mustCreate(err)
	_, err = cs.CoreV1().Pods("team-a").Create(ctx, pod("pinned", unsigned), metav1.CreateOptions{})
	mustCreate(err)
	vol := &corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: "volume"}, Template: corev1.PodTemplateSpec{Spec: pod("", signed).Spec}}
	vol.Template.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: reg + "/e2e/app:unsigned"}}}}
	_, err = cs.CoreV1().PodTemplates("team-a").Create(ctx, vol, metav1.CreateOptions{})
	mustCreate(err)
	dbg, err := cs.CoreV1().Pods("team-b").Create(ctx, pod("debug", reg+"/e2e/app:v1"), metav1.CreateOptions{})
	mustCreate(err)
	dbg.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "shell", Image: unsigned}}}
	_, err = cs.CoreV1().Pods("team-b").UpdateEphemeralContainers(ctx, "debug", dbg, metav1.UpdateOptions{})
	mustCreate(err)

	// Allowed.
	_, err = cs.CoreV1().Pods("team-a").Create(ctx, pod("ok", reg+"/e2e/app:v1"), metav1.CreateOptions{})
	mustCreate(err)
	_, err = cs.BatchV1().CronJobs("team-a").Create(ctx, cronjob("nightly", signed, reg+"/e2e/app:v1"), metav1.CreateOptions{})
	mustCreate(err)
	_, err = cs.CoreV1().Pods("team-c").Create(ctx, pod("ok", signed), metav1.CreateOptions{})
	mustCreate(err)
	templates := kube.ListPageSize + 5
	for i := range templates {
		_, err := cs.CoreV1().PodTemplates("team-c").Create(ctx, &corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d", i)}, Template: corev1.PodTemplateSpec{Spec: pod("", signed).Spec}}, metav1.CreateOptions{})
		mustCreate(err)
	}

	audit := func(args ...string) (int, auditOutput, string) {
		t.Helper()
		cmd := exec.Command(harness.ImageBin(t), append([]string{"audit", "cluster", "--policy", policyFile, "--kubeconfig", kubeconfig, "-o", "json"}, args...)...)
		code, stdout, stderr := harness.ExitCode(t, cmd)
		var out auditOutput
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatalf("signet audit cluster %v: exit %d, %v\nstdout: %s\nstderr: %s", args, code, err, stdout, stderr)
		}
		return code, out, stdout
	}
	names := func(out auditOutput) []string {
		var got []string
		for _, o := range out.Denied {
			for _, img := range o.Images {
				got = append(got, fmt.Sprintf("%s %s/%s %s %s", o.Kind, o.Namespace, o.Name, img.Container, img.Outcome))
			}
		}
		slices.Sort(got)
		return got
	}

	code, out, raw := audit()
	want := []string{
		"Deployment team-a/web initContainers[init] failed",
		"Pod team-a/pinned containers[c0] failed",
		"Pod team-b/debug ephemeralContainers[shell] failed",
		"PodTemplate team-a/volume volumes[data] failed",
	}
	if got := names(out); code != 1 || !slices.Equal(got, want) {
		t.Errorf("every namespace: exit %d, denied\n  %s\nwant exit 1 and\n  %s\n%s", code, strings.Join(got, "\n  "), strings.Join(want, "\n  "), raw)
	}
	if all := 1 + 4 + 1 + 1 + templates; out.Objects != all {
		t.Errorf("objectsAudited = %d, want %d (every page listed)", out.Objects, all)
	}
	if !strings.Contains(raw, "no cosign signatures found") {
		t.Errorf("no reason given:\n%s", raw)
	}

	code, out, raw = audit("--namespace", "team-b")
	if got := names(out); code != 1 || !slices.Equal(got, want[2:3]) {
		t.Errorf("--namespace team-b: exit %d, denied %v\n%s", code, got, raw)
	}
	code, out, raw = audit("--exclude-namespace", "team-a,team-b")
	if code != 0 || len(out.Denied) != 0 || out.Objects != 1+templates {
		t.Errorf("team-c only: exit %d, %d objects audited, denied %v\n%s", code, out.Objects, names(out), raw)
	}

	// The text output names the objects too.
	code, text, _ := harness.ExitCode(t, exec.Command(harness.ImageBin(t), "audit", "cluster", "--policy", policyFile, "--kubeconfig", kubeconfig))
	for _, w := range []string{"Deployment", "team-a", "web", "initContainers[init]", reg + "/e2e/app:unsigned"} {
		if code != 1 || !strings.Contains(text, w) {
			t.Errorf("text output (exit %d) lacks %q:\n%s", code, w, text)
		}
	}

	// Usage errors exit 2.
	for _, args := range [][]string{
		{"audit", "cluster", "--kubeconfig", kubeconfig},
		{"audit", "cluster", "--policy", policyFile, "--kubeconfig", kubeconfig, "-o", "yaml"},
		{"audit", "cluster", "--policy", filepath.Join(dir, "none.yaml"), "--kubeconfig", kubeconfig},
	} {
		if code, _, stderr := harness.ExitCode(t, exec.Command(harness.ImageBin(t), args...)); code != 2 {
			t.Errorf("signet %v: exit %d, want 2 (%s)", args, code, stderr)
		}
	}
}

// TestAuditClusterMemory: signet audit cluster holds one page of objects,
// not the cluster. Objects of 200 KiB each (an annotation near the API's
// 256 KiB limit) are audited twice: 300 of them (58 MiB), then 600 (117
// MiB). The audit's peak RSS is set by the page (about kube.ListPageBytes
// of JSON), so doubling the cluster must add well under half of what was
// added (measured: 75 MiB, then 80 MiB).
func TestAuditClusterMemory(t *testing.T) {
	t.Parallel()
	env, cs := startAPIServer(t, nil)
	ctx := context.Background()
	_, pol, signed, _ := signedImages(t)
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := writeKubeconfig(t, env, "auditor")
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "big"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	const step, size = 300, 200 << 10
	filler := strings.Repeat("x", size)
	created := 0
	grow := func() {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, step)
		sem := make(chan struct{}, 8)
		for i := created; i < created+step; i++ {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				pt := &corev1.PodTemplate{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d", i), Annotations: map[string]string{"filler": filler}}, Template: corev1.PodTemplateSpec{Spec: pod("", signed).Spec}}
				if _, err := cs.CoreV1().PodTemplates("big").Create(ctx, pt, metav1.CreateOptions{}); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		created += step
	}
	peak := func() int64 {
		t.Helper()
		cmd := exec.Command(harness.ImageBin(t), "audit", "cluster", "--policy", policyFile, "--kubeconfig", kubeconfig, "-o", "json")
		code, stdout, stderr, rss := harness.ExitCodePeak(t, cmd)
		var out auditOutput
		if err := json.Unmarshal([]byte(stdout), &out); err != nil || code != 0 || out.Objects != created {
			t.Fatalf("exit %d, %v, %d objects audited (want 0, %d)\n%s%s", code, err, out.Objects, created, stdout, stderr)
		}
		t.Logf("peak RSS of signet audit cluster over %d objects of %d KiB (%d MiB): %d MiB", created, size>>10, created*size>>20, rss>>20)
		return rss
	}
	grow()
	first := peak()
	grow()
	second := peak()
	if added := int64(step * size); second-first > added/2 {
		t.Errorf("peak RSS grew by %d MiB when the cluster grew by %d MiB: the audit holds more than a page", (second-first)>>20, added>>20)
	}
	if all := int64(created * size); second > all {
		t.Errorf("peak RSS %d MiB over a cluster of %d MiB of objects", second>>20, all>>20)
	}
}

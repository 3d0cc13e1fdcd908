package reverify

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/signet-dev/signet/internal/reverify"
	"github.com/signet-dev/signet/internal/reverify/report"
	"github.com/signet-dev/signet/test/harness"
)

// crdDir holds the PolicyReport CRD the chart installs.
var crdDir = filepath.Join(harness.Root, "deploy", "helm", "signet", "files", "policyreport-crd")

// start starts kube-apiserver and etcd, without the PolicyReport CRD.
func start(t *testing.T) (*envtest.Environment, *rest.Config) {
	t.Helper()
	return harness.StartAPIServer(t)
}

// TestPolicyReports: signet starts before the CRD exists (reports are
// skipped, once warned about); the CRD is installed and, after the
// writer's re-check, a Deployment's report is created; reporting the same
// results again, from the same writer or a new one (a restart, a new
// leader), writes nothing; a failure updates it; Forget deletes it. The
// schema refuses what the API does not allow.
func TestPolicyReports(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, cfg := start(t)
	cs := kubernetes.NewForConfigOrDie(cfg)
	dc := dynamic.NewForConfigOrDie(cfg)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	dep, err := cs.AppsV1().Deployments("team-a").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "reg.example/web:v1"}}},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wl := reverify.Workload{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "team-a", Name: "web", UID: string(dep.UID)}
	seen := time.Now().Truncate(time.Second)
	passed := []reverify.Result{{Container: "containers/web", Image: "reg.example/web:v1", Digest: "sha256:" + strings.Repeat("a", 64),
		Outcome: reverify.Pass, Rule: "reg.example/**", Validator: "ci", Mode: "enforce", Reason: "verified by ci", Time: seen}}
	failed := []reverify.Result{passed[0]}
	failed[0].Outcome, failed[0].Reason, failed[0].Time = reverify.Fail, "no signature matches the trust root ci", seen.Add(time.Minute)

	now := time.Now()
	clock := func() time.Time { return now }
	var logs harness.LogBuffer
	w := report.New(dc, report.Options{Log: slog.New(slog.NewTextHandler(&logs, nil)), Now: clock})
	reports := dc.Resource(report.Resource).Namespace("team-a")

	// No CRD: nothing written, no error, one warning.
	for range 3 {
		if err := w.Report(ctx, wl, passed); err != nil {
			t.Fatalf("Report without the CRD: %v", err)
		}
	}
	if err := w.Forget(ctx, wl); err != nil {
		t.Fatalf("Forget without the CRD: %v", err)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}

	// The CRD installed: written after the re-check.
	crds, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{Paths: []string{crdDir}, ErrorIfPathMissing: true})
	if err != nil || len(crds) != 1 {
		t.Fatalf("installing %s: %d CRDs, %v", crdDir, len(crds), err)
	}
	if err := w.Report(ctx, wl, passed); err != nil {
		t.Fatal(err)
	}
	if _, err := reports.Get(ctx, report.Name(wl.UID), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("written before the re-check: %v", err)
	}
	now = now.Add(report.RecheckInterval)
	if err := w.Report(ctx, wl, passed); err != nil {
		t.Fatal(err)
	}
	got, err := reports.Get(ctx, report.Name(wl.UID), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the report: %v", err)
	}
	check(t, got, wl, "pass", map[string]int64{"pass": 1, "fail": 0, "warn": 0, "error": 0, "skip": 0})
	created := got.GetResourceVersion()

	// Unchanged: not written, by this writer or a new one.
	restarted := report.New(dc, report.Options{})
	for _, r := range []reverify.Reporter{w, restarted} {
		if err := r.Report(ctx, wl, passed); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := reports.Get(ctx, report.Name(wl.UID), metav1.GetOptions{}); got.GetResourceVersion() != created {
		t.Errorf("an unchanged report written: resourceVersion %s, was %s", got.GetResourceVersion(), created)
	}

	// Changed: updated.
	if err := w.Report(ctx, wl, failed); err != nil {
		t.Fatal(err)
	}
	got, _ = reports.Get(ctx, report.Name(wl.UID), metav1.GetOptions{})
	check(t, got, wl, "fail", map[string]int64{"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0})
	if got.GetResourceVersion() == created {
		t.Error("a changed report not written")
	}
	// Another writer, whose resourceVersion is stale, reads again and
	// updates.
	warned := []reverify.Result{passed[0]}
	warned[0].Outcome, warned[0].Mode = reverify.Warn, "warn"
	if err := restarted.Report(ctx, wl, warned); err != nil {
		t.Fatalf("a writer with a stale resourceVersion: %v", err)
	}
	got, _ = reports.Get(ctx, report.Name(wl.UID), metav1.GetOptions{})
	check(t, got, wl, "warn", map[string]int64{"pass": 0, "fail": 0, "warn": 1, "error": 0, "skip": 0})
	// A writer that thinks the report unchanged writes after Reset (it
	// regained the leadership).
	w.Reset()
	if err := w.Report(ctx, wl, failed); err != nil {
		t.Fatal(err)
	}
	got, _ = reports.Get(ctx, report.Name(wl.UID), metav1.GetOptions{})
	check(t, got, wl, "fail", map[string]int64{"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0})

	// Forget: gone; again: nothing to do.
	for range 2 {
		if err := restarted.Forget(ctx, wl); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := reports.Get(ctx, report.Name(wl.UID), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("after Forget: %v", err)
	}

	// The schema: results and severities outside the API's enums are refused.
	for field, value := range map[string]string{"result": "denied", "severity": "severe"} {
		bad := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport", "metadata": map[string]any{"name": "bad-" + field},
			"results": []any{map[string]any{"policy": "p", "result": "pass", "severity": "high", field: value}},
		}}
		if _, err := reports.Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
			t.Errorf("a result with %s %q: %v, want Invalid", field, value, err)
		}
	}
}

// check compares what a stored report says about wl with its one result.
func check(t *testing.T, u *unstructured.Unstructured, wl reverify.Workload, outcome string, summary map[string]int64) {
	t.Helper()
	if u.GetLabels()["app.kubernetes.io/managed-by"] != "signet" || u.GetLabels()[report.LabelName] != "web" {
		t.Errorf("labels %v", u.GetLabels())
	}
	owners := u.GetOwnerReferences()
	if len(owners) != 1 || string(owners[0].UID) != wl.UID || owners[0].Kind != "Deployment" || owners[0].Controller != nil || owners[0].BlockOwnerDeletion != nil {
		t.Errorf("owner references %+v", owners)
	}
	if uid, _, _ := unstructured.NestedString(u.Object, "scope", "uid"); uid != wl.UID {
		t.Errorf("scope %v", u.Object["scope"])
	}
	for k, want := range summary {
		if got, _, _ := unstructured.NestedInt64(u.Object, "summary", k); got != want {
			t.Errorf("summary.%s = %d, want %d", k, got, want)
		}
	}
	results, _, _ := unstructured.NestedSlice(u.Object, "results")
	if len(results) != 1 {
		t.Fatalf("results %v", results)
	}
	r := results[0].(map[string]any)
	props, _ := r["properties"].(map[string]any)
	if r["result"] != outcome || r["policy"] != "signet" || r["rule"] != "reg.example/**" || props["container"] != "containers/web" || props["digest"] == nil {
		t.Errorf("result %v", r)
	}
}

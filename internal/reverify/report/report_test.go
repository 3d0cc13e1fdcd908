package report

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/signet-dev/signet/internal/reverify"
)

var (
	deploy = reverify.Workload{APIVersion: "apps/v1", Kind: "Deployment", Namespace: "team-a", Name: "web", UID: "0b9c5b0e-3c1f-4a5e-9d7e-6f2a1b3c4d5e"}
	seen   = time.Date(2026, 12, 5, 4, 0, 0, 123, time.UTC)
	passed = []reverify.Result{
		{Container: "containers/web", Image: "reg.example/web:v1", Digest: "sha256:aa", Outcome: reverify.Pass, Rule: "reg.example/**", Validator: "ci", Mode: "enforce", Reason: "verified", Time: seen},
		{Container: "initContainers/setup", Image: "reg.example/setup:v1", Outcome: reverify.Pass, Time: seen},
	}
	failed = []reverify.Result{
		{Container: "containers/web", Image: "reg.example/web:v1", Digest: "sha256:aa", Outcome: reverify.Fail, Rule: "reg.example/**", Validator: "ci", Mode: "enforce", Reason: "no signature", Time: seen.Add(time.Hour)},
		passed[1],
	}
)

func newFake(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{Resource: "PolicyReportList"}, objs...)
}

// verbs lists the client's actions since the last call, and forgets them.
func verbs(c *dynamicfake.FakeDynamicClient) []string {
	var out []string
	for _, a := range c.Actions() {
		out = append(out, a.GetVerb())
	}
	c.ClearActions()
	return out
}

func stored(t *testing.T, c *dynamicfake.FakeDynamicClient, wl reverify.Workload) *unstructured.Unstructured {
	t.Helper()
	u, err := c.Tracker().Get(Resource, wl.Namespace, Name(wl.UID))
	if err != nil {
		t.Fatalf("the report of %s: %v", wl.Name, err)
	}
	c.ClearActions()
	return u.(*unstructured.Unstructured)
}

// TestObject: the report's metadata, scope, results and summary.
func TestObject(t *testing.T) {
	t.Parallel()
	results := append([]reverify.Result{
		{Container: "containers/sidecar", Image: "reg.example/side:v1", Outcome: reverify.Warn, Rule: "r", Mode: "warn", Reason: strings.Repeat("é", reverify.MaxReasonBytes), Time: seen},
		{Container: "containers/proxy", Image: "reg.example/proxy:v1", Outcome: reverify.Error, Reason: "timeout", Time: seen},
		{Container: "containers/odd", Image: "reg.example/odd:v1", Outcome: "unknown"},
	}, failed...)
	u := build(deploy, results).object("")
	scope := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "namespace": "team-a", "name": "web", "uid": deploy.UID}
	want := map[string]any{
		"apiVersion": "wgpolicyk8s.io/v1alpha2",
		"kind":       "PolicyReport",
		"metadata": map[string]any{
			"name": "signet-" + deploy.UID, "namespace": "team-a",
			"labels": map[string]any{"app.kubernetes.io/managed-by": "signet", "signet.dev/workload-kind": "Deployment",
				"signet.dev/workload-name": "web", "signet.dev/workload-uid": deploy.UID},
			"ownerReferences": []any{map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": deploy.UID}},
		},
		"scope":   scope,
		"summary": map[string]any{"pass": 1.0, "fail": 1.0, "warn": 1.0, "error": 2.0, "skip": 0.0},
		"results": []any{
			map[string]any{"policy": "signet", "rule": "r", "result": "warn", "severity": "medium", "source": "signet", "category": "Image Verification",
				"message": strings.Repeat("é", reverify.MaxReasonBytes/2), "timestamp": map[string]any{"seconds": float64(seen.Unix()), "nanos": 123.0},
				"resources": []any{scope}, "properties": map[string]any{"container": "containers/sidecar", "image": "reg.example/side:v1", "mode": "warn"}},
			map[string]any{"policy": "signet", "rule": "no rule", "result": "error", "severity": "info", "source": "signet", "category": "Image Verification",
				"message": "timeout", "timestamp": map[string]any{"seconds": float64(seen.Unix()), "nanos": 123.0},
				"resources": []any{scope}, "properties": map[string]any{"container": "containers/proxy", "image": "reg.example/proxy:v1"}},
			map[string]any{"policy": "signet", "rule": "no rule", "result": "error", "severity": "info", "source": "signet", "category": "Image Verification",
				"timestamp": map[string]any{"seconds": 0.0, "nanos": 0.0},
				"resources": []any{scope}, "properties": map[string]any{"container": "containers/odd", "image": "reg.example/odd:v1"}},
			map[string]any{"policy": "signet", "rule": "reg.example/**", "result": "fail", "severity": "high", "source": "signet", "category": "Image Verification",
				"message": "no signature", "timestamp": map[string]any{"seconds": float64(seen.Add(time.Hour).Unix()), "nanos": 123.0},
				"resources": []any{scope}, "properties": map[string]any{"container": "containers/web", "image": "reg.example/web:v1", "digest": "sha256:aa", "validator": "ci", "mode": "enforce"}},
			map[string]any{"policy": "signet", "rule": "no rule", "result": "pass", "severity": "info", "source": "signet", "category": "Image Verification",
				"timestamp": map[string]any{"seconds": float64(seen.Unix()), "nanos": 123.0},
				"resources": []any{scope}, "properties": map[string]any{"container": "initContainers/setup", "image": "reg.example/setup:v1"}},
		},
	}
	if diff := cmp.Diff(want, u.Object); diff != "" {
		t.Errorf("the report (-want +got):\n%s", diff)
	}
	// What is read back hashes as what was built.
	have, err := fromObject(u)
	if err != nil || have.hash() != build(deploy, results).hash() {
		t.Errorf("read back: %v, or a different hash", err)
	}
}

func TestLabelValue(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"web":                          "web",
		"a.b-c_d":                      "a.b-c_d",
		"-web-":                        "web",
		"web:v1/é":                     "web_v1",
		strings.Repeat("a", 70):        strings.Repeat("a", 63),
		strings.Repeat("a", 62) + ".b": strings.Repeat("a", 62),
		"":                             "",
	} {
		if got := labelValue(in); got != want {
			t.Errorf("labelValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"}, {"abcd", 3, "abc"}, {"aé", 2, "a"}, {"aé", 3, "aé"}, {"", 0, ""},
	} {
		if got := truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// TestWrites: a report is created, not written again while unchanged,
// updated when changed, deleted by Forget.
func TestWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newFake()
	w := New(c, Options{})
	for _, step := range []struct {
		name    string
		do      func() error
		verbs   []string
		results []reverify.Result // the stored report's (nil: none stored)
	}{
		{"create", func() error { return w.Report(ctx, deploy, passed) }, []string{"list", "create"}, passed},
		{"unchanged", func() error { return w.Report(ctx, deploy, passed) }, nil, passed},
		{"changed", func() error { return w.Report(ctx, deploy, failed) }, []string{"update"}, failed},
		{"unchanged again", func() error { return w.Report(ctx, deploy, failed) }, nil, failed},
		{"no results", func() error { return w.Report(ctx, deploy, nil) }, []string{"update"}, []reverify.Result{}},
		{"forget", func() error { return w.Forget(ctx, deploy) }, []string{"delete"}, nil},
		{"forget again", func() error { return w.Forget(ctx, deploy) }, []string{"delete"}, nil},
		{"again after forget", func() error { return w.Report(ctx, deploy, passed) }, []string{"create"}, passed},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := verbs(c); !cmp.Equal(got, step.verbs) {
			t.Errorf("%s: API calls %v, want %v", step.name, got, step.verbs)
		}
		_, err := c.Tracker().Get(Resource, deploy.Namespace, Name(deploy.UID))
		if step.results == nil {
			if !apierrors.IsNotFound(err) {
				t.Errorf("%s: the report is still there (%v)", step.name, err)
			}
			continue
		}
		have, err := fromObject(stored(t, c, deploy))
		if err != nil || have.hash() != build(deploy, step.results).hash() {
			t.Errorf("%s: the stored report is not the one built (%v)", step.name, err)
		}
	}
}

// TestStart: the first Report of a workload compares with the stored
// report: equal, nothing written; different, updated in place (others'
// labels and owners kept); the update conflicting, read again.
func TestStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		stored []reverify.Result
		report []reverify.Result
		verbs  []string
	}{
		{"equal", passed, passed, []string{"list"}},
		{"different", passed, failed, []string{"list", "get", "update"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			old := build(deploy, tc.stored).object("")
			old.SetLabels(map[string]string{"team": "a", LabelManagedBy: "signet", LabelKind: "Deployment", LabelName: "web", LabelUID: deploy.UID})
			old.SetOwnerReferences(append(old.GetOwnerReferences(), metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "other"}))
			c := newFake(old)
			w := New(c, Options{})
			if err := w.Report(ctx, deploy, tc.report); err != nil {
				t.Fatal(err)
			}
			if got := verbs(c); !cmp.Equal(got, tc.verbs) {
				t.Errorf("API calls %v, want %v", got, tc.verbs)
			}
			u := stored(t, c, deploy)
			if have, _ := fromObject(u); have.hash() != build(deploy, tc.report).hash() {
				t.Error("the stored report is not the one built")
			}
			if u.GetLabels()["team"] != "a" || len(u.GetOwnerReferences()) != 2 {
				t.Errorf("labels %v, owners %v: others' lost", u.GetLabels(), u.GetOwnerReferences())
			}
			if err := w.Report(ctx, deploy, tc.report); err != nil || len(verbs(c)) != 0 {
				t.Errorf("reported again: %v, or written", err)
			}
		})
	}
}

// TestConflict: an update refused (changed by someone else, or deleted)
// reads the stored report and writes again.
func TestConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		err   error
		verbs []string
	}{
		{"conflict", apierrors.NewConflict(Resource.GroupResource(), Name(deploy.UID), errors.New("changed")), []string{"update", "get", "update"}},
		{"deleted", apierrors.NewNotFound(Resource.GroupResource(), Name(deploy.UID)), []string{"update", "get", "update"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newFake()
			w := New(c, Options{})
			if err := w.Report(ctx, deploy, passed); err != nil {
				t.Fatal(err)
			}
			verbs(c)
			once := sync.Once{}
			c.PrependReactor("update", "policyreports", func(k8stesting.Action) (bool, runtime.Object, error) {
				handled := false
				once.Do(func() { handled = true })
				return handled, nil, tc.err
			})
			if err := w.Report(ctx, deploy, failed); err != nil {
				t.Fatal(err)
			}
			if got := verbs(c); !cmp.Equal(got, tc.verbs) {
				t.Errorf("API calls %v, want %v", got, tc.verbs)
			}
		})
	}
}

// TestErrors: an API error other than a missing CRD is returned, wrapped,
// and the next Report reads the stored report again.
func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newFake()
	forbidden := apierrors.NewForbidden(Resource.GroupResource(), "", errors.New("no"))
	fail := true
	c.PrependReactor("*", "policyreports", func(k8stesting.Action) (bool, runtime.Object, error) { return fail, nil, forbidden })
	w := New(c, Options{})
	if err := w.Report(ctx, deploy, passed); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "reading PolicyReport team-a/signet-") {
		t.Errorf("Report: %v", err)
	}
	if err := w.Forget(ctx, deploy); !apierrors.IsForbidden(err) {
		t.Errorf("Forget: %v", err)
	}
	if err := w.Report(ctx, reverify.Workload{Kind: "Pod", Name: "p"}, passed); err == nil {
		t.Error("a workload without namespace or UID reported")
	}
	fail = false
	verbs(c)
	if err := w.Report(ctx, deploy, passed); err != nil {
		t.Fatal(err)
	}
	if got := verbs(c); !cmp.Equal(got, []string{"get", "create"}) {
		t.Errorf("API calls %v", got)
	}
}

// TestCRDAbsent: without the CRD (the API server's 404 for the resource),
// Report and Forget return nil, a warning is logged once, the API is not
// asked again before RecheckInterval; once the CRD is there, reports are
// written.
func TestCRDAbsent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newFake()
	noResource := &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 404, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource"}}
	installed := false
	c.PrependReactor("*", "policyreports", func(k8stesting.Action) (bool, runtime.Object, error) { return !installed, nil, noResource })
	now := seen
	var logs bytes.Buffer // one goroutine writes
	w := New(c, Options{Log: slog.New(slog.NewTextHandler(&logs, nil)), Now: func() time.Time { return now }})
	other := deploy
	other.UID, other.Name = "1c9c5b0e-3c1f-4a5e-9d7e-6f2a1b3c4d5e", "api"
	for _, step := range []struct {
		name    string
		advance time.Duration
		install bool
		do      func() error
		verbs   []string
	}{
		{"first", 0, false, func() error { return w.Report(ctx, deploy, passed) }, []string{"list"}},
		{"within the minute", 30 * time.Second, false, func() error { return w.Report(ctx, other, passed) }, nil},
		{"forget within the minute", 0, false, func() error { return w.Forget(ctx, deploy) }, nil},
		{"re-check, still absent", 31 * time.Second, false, func() error { return w.Report(ctx, deploy, passed) }, []string{"list"}},
		{"installed, not yet re-checked", 10 * time.Second, true, func() error { return w.Report(ctx, deploy, passed) }, nil},
		{"re-check, installed", time.Minute, true, func() error { return w.Report(ctx, deploy, passed) }, []string{"list", "create"}},
		{"written", 0, true, func() error { return w.Report(ctx, other, failed) }, []string{"create"}},
	} {
		now = now.Add(step.advance)
		installed = step.install
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := verbs(c); !cmp.Equal(got, step.verbs) {
			t.Errorf("%s: API calls %v, want %v", step.name, got, step.verbs)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "PolicyReport CRD found") {
		t.Errorf("no notice of the CRD found:\n%s", logs.String())
	}
}

// TestIsNoResource: the API server's 404 for a resource it does not serve
// is told apart from an object's NotFound.
func TestIsNoResource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{apierrors.NewNotFound(Resource.GroupResource(), "signet-x"), false},
		{apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "team-a"), false},
		{&apierrors.StatusError{ErrStatus: metav1.Status{Code: 404, Reason: metav1.StatusReasonNotFound}}, true},
		{apierrors.NewGenericServerResponse(404, "get", Resource.GroupResource(), "", "", 0, false), true},
		{apierrors.NewForbidden(Resource.GroupResource(), "", errors.New("no")), false},
		{errors.New("connection refused"), false},
	} {
		if got := isNoResource(tc.err); got != tc.want {
			t.Errorf("isNoResource(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestReset: after Reset, the next Report compares with the stored report.
func TestReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newFake()
	w := New(c, Options{})
	if err := w.Report(ctx, deploy, passed); err != nil {
		t.Fatal(err)
	}
	verbs(c)
	w.Reset()
	if err := w.Report(ctx, deploy, passed); err != nil {
		t.Fatal(err)
	}
	if got := verbs(c); !cmp.Equal(got, []string{"list"}) {
		t.Errorf("API calls %v, want [list] (the stored report read back in one list)", got)
	}
}

// TestCreatedSinceTheList: a report another replica created after this
// Writer listed is not overwritten: the create fails, it is read, and
// (equal here) left alone.
func TestCreatedSinceTheList(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newFake()
	w1, w2 := New(c, Options{}), New(c, Options{})
	if err := w1.Report(ctx, reverify.Workload{APIVersion: "v1", Kind: "Pod", Namespace: "team-a", Name: "p", UID: "9f0e"}, failed); err != nil { // w1 lists: nothing yet
		t.Fatal(err)
	}
	if err := w2.Report(ctx, deploy, passed); err != nil {
		t.Fatal(err)
	}
	verbs(c)
	if err := w1.Report(ctx, deploy, passed); err != nil {
		t.Fatal(err)
	}
	if got := verbs(c); !cmp.Equal(got, []string{"create", "get"}) {
		t.Errorf("API calls %v, want [create get]", got)
	}
}

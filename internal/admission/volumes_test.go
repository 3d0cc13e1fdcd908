package admission_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/decisionlog"
)

// TestImageVolumesEveryKind: an image volume in the pod spec of every kind
// is decided like a container image — pinned at its reference when
// signed, named volumes[NAME] when denied or warned about, logged with its
// path.
func TestImageVolumesEveryKind(t *testing.T) {
	t.Parallel()
	e := newEnv(t, admission.Options{})
	h := e.reg.Host
	var log bytes.Buffer
	dl := decisionlog.New(&log)
	rv := admission.NewReviewer(e.reviewer.EngineFunc(), nil, admission.Options{Decisions: dl}, nil, nil)

	kinds := map[string]struct {
		base string
		wrap func(spec any) map[string]any
	}{
		"Pod":                   {"/spec", func(s any) map[string]any { return map[string]any{"spec": s} }},
		"PodTemplate":           {"/template/spec", func(s any) map[string]any { return map[string]any{"template": map[string]any{"spec": s}} }},
		"Deployment":            {"/spec/template/spec", templated},
		"ReplicaSet":            {"/spec/template/spec", templated},
		"StatefulSet":           {"/spec/template/spec", templated},
		"DaemonSet":             {"/spec/template/spec", templated},
		"Job":                   {"/spec/template/spec", templated},
		"ReplicationController": {"/spec/template/spec", templated},
		"CronJob": {"/spec/jobTemplate/spec/template/spec", func(s any) map[string]any {
			return map[string]any{"spec": map[string]any{"jobTemplate": templated(s)}}
		}},
	}
	for kind, k := range kinds {
		for _, tc := range []struct {
			volume  string
			allowed bool
			warned  bool
		}{
			{volume: h + "/demo/app:signed", allowed: true},
			{volume: h + "/demo/app:unsigned"},
			{volume: h + "/warn/app:unsigned", allowed: true, warned: true},
		} {
			spec := withVolumes(podSpec([]container{{"app", h + "/demo/init:signed"}}, nil, nil), container{"data", tc.volume})
			obj := k.wrap(spec)
			obj["metadata"] = map[string]any{"name": "web", "namespace": "team-a"}
			raw, _ := json.Marshal(obj)
			resp := rv.Review(context.Background(), &admissionv1.AdmissionRequest{
				UID: "uid", Kind: metav1.GroupVersionKind{Kind: kind}, Namespace: "team-a", Name: "web",
				Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw},
			}, true)
			path := k.base + "/volumes/1/image/reference"
			switch {
			case resp.Allowed != tc.allowed:
				t.Errorf("%s with image volume %s: allowed = %v: %v", kind, tc.volume, resp.Allowed, resp.Result)
			case !tc.allowed && !strings.Contains(resp.Result.Message, "volumes[data] "+tc.volume):
				t.Errorf("%s: denial does not name volumes[data]: %s", kind, resp.Result.Message)
			case tc.warned && !strings.Contains(strings.Join(resp.Warnings, "\n"), "signet would deny volumes[data] "+tc.volume):
				t.Errorf("%s: warnings %q", kind, resp.Warnings)
			case tc.allowed && !tc.warned && !strings.Contains(string(resp.Patch), `"path":"`+path+`","value":"`+h+`/demo/app@sha256:`):
				t.Errorf("%s: patch %s does not pin %s", kind, resp.Patch, path)
			}
		}
	}
	if err := dl.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	if len(lines) != 3*len(kinds) {
		t.Fatalf("%d decision records, want %d", len(lines), 3*len(kinds))
	}
	for _, l := range lines {
		var rec decisionlog.Record
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.Images) != 2 || !strings.HasSuffix(rec.Images[1].Path, "/volumes/1/image/reference") || !strings.Contains(rec.Images[1].Image, "/app:") {
			t.Errorf("decision record images: %+v", rec.Images)
		}
		if rec.Decision != "allowed" && !strings.Contains(rec.Reason, "volumes[data]") {
			t.Errorf("%s record's reason does not name the volume: %s", rec.Decision, rec.Reason)
		}
	}
}

func templated(spec any) map[string]any {
	return map[string]any{"spec": map[string]any{"template": map[string]any{"spec": spec}}}
}

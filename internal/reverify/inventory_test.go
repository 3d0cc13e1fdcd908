package reverify

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

const dg = "sha256:0123456789012345678901234567890123456789012345678901234567890123"

func pod(extra map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"kind": "Pod",
		"metadata": map[string]any{"name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
			"labels":      map[string]any{"big": strings.Repeat("x", 60)},
			"annotations": map[string]any{"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("y", 4096)},
			"ownerReferences": []any{
				map[string]any{"apiVersion": "v1", "kind": "Node", "name": "n", "uid": "node-uid"},
				map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs-uid", "controller": true},
			}},
		"spec": map[string]any{
			"serviceAccountName": "sa", "imagePullSecrets": []any{map[string]any{"name": "pull"}},
			"containers":     []any{map[string]any{"name": "app", "image": "reg.example/app:v1", "env": []any{map[string]any{"name": "A", "value": strings.Repeat("z", 1024)}}}},
			"initContainers": []any{map[string]any{"name": "init", "image": "reg.example/init@" + dg}},
		},
	}}
	for k, v := range extra {
		u.Object[k] = v
	}
	return u
}

func TestTrim(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		kind    string
		in      *unstructured.Unstructured
		done    bool
		running map[string]string
		err     string
	}{
		{name: "running pod", kind: "Pod", in: pod(map[string]any{"status": map[string]any{"phase": "Running", "containerStatuses": []any{
			map[string]any{"name": "app", "imageID": "docker.io/library/app@" + dg},
		}, "initContainerStatuses": []any{
			map[string]any{"name": "init", "imageID": "sha256:" + strings.Repeat("a", 64)}, // a config digest: not a manifest
		}}}), running: map[string]string{"containers/app": dg}},
		{name: "docker-pullable imageID", kind: "Pod", in: pod(map[string]any{"status": map[string]any{"containerStatuses": []any{
			map[string]any{"name": "app", "imageID": "docker-pullable://reg.example/app@" + dg},
		}}}), running: map[string]string{"containers/app": dg}},
		{name: "malformed imageID", kind: "Pod", in: pod(map[string]any{"status": map[string]any{"containerStatuses": []any{
			map[string]any{"name": "app", "imageID": "reg.example/app@sha256:short"}, "not an object",
		}}})},
		{name: "succeeded pod", kind: "Pod", in: pod(map[string]any{"status": map[string]any{"phase": "Succeeded"}}), done: true},
		{name: "finished job", kind: "Job", in: &unstructured.Unstructured{Object: map[string]any{"kind": "Job", "metadata": map[string]any{"name": "j", "namespace": "ns", "uid": "j"},
			"spec":   map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "a", "image": "x"}}}}},
			"status": map[string]any{"conditions": []any{map[string]any{"type": "Complete", "status": "True"}}}}}, done: true},
		{name: "unreadable images", kind: "Pod", in: &unstructured.Unstructured{Object: map[string]any{"kind": "Pod", "metadata": map[string]any{"name": "bad", "namespace": "ns", "uid": "b"},
			"spec": map[string]any{"containers": []any{map[string]any{"name": "a", "image": 42}}}}}, err: "reading the images of Pod ns/bad"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := trim(tc.kind, "v1")(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			o := out.(*object)
			if o.done != tc.done || fmt.Sprint(o.running) != fmt.Sprint(tc.running) {
				t.Errorf("done %v running %v, want %v %v", o.done, o.running, tc.done, tc.running)
			}
			if tc.err != "" {
				if !strings.Contains(o.err, tc.err) {
					t.Errorf("err %q, want %q", o.err, tc.err)
				}
				return
			}
			if o.err != "" {
				t.Fatal(o.err)
			}
			if len(o.Labels)+len(o.Annotations) != 0 || len(o.OwnerReferences) > 1 {
				t.Errorf("kept more than identity: %+v", o.ObjectMeta)
			}
			if tc.kind == "Pod" {
				if c := o.controller(); c == nil || c.Name != "rs" || o.serviceAccount != "sa" || strings.Join(o.pullSecrets, ",") != "pull" || len(o.images) != 2 {
					t.Errorf("object %+v", o)
				}
			}
			again, _ := trim(tc.kind, "v1")(o) // a tombstone's object comes back trimmed
			if again != any(o) {
				t.Error("trimming a trimmed object changed it")
			}
		})
	}
}

// TestTrimMemory: what the inventory keeps of a Pod is a small fraction of
// the Pod (here 6 KiB of JSON with a large annotation and environment):
// 10,000 trimmed Pods hold under 12 MiB of heap (~1.2 KiB each).
func TestTrimMemory(t *testing.T) {
	const n = 10000
	keep := make([]any, 0, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		u := pod(nil)
		u.SetName(fmt.Sprintf("pod-%d", i))
		u.SetUID(types.UID(fmt.Sprint("uid-", i)))
		o, err := trim("Pod", "v1")(u)
		if err != nil {
			t.Fatal(err)
		}
		keep = append(keep, o)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d trimmed Pods: %d KiB of heap, %d B each", n, grew>>10, grew/n)
	if grew > 12<<20 {
		t.Errorf("%d trimmed Pods hold %d MiB", n, grew>>20)
	}
	runtime.KeepAlive(keep)
}

package policysource

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policy/v1alpha1"
	"github.com/signet-dev/signet/internal/testutil"
)

// resource is a policy resource of kind with spec, as the API serves it.
func resource(kind, namespace, name string, spec map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": v1alpha1.SchemeGroupVersion.String(), "kind": kind,
		"metadata": map[string]any{"name": name, "generation": int64(1), "uid": namespace + "/" + name}, "spec": spec}}
	if namespace != "" {
		u.SetNamespace(namespace)
	}
	return u
}

// namespaceSpec is an ImagePolicy spec of 10 rules, one cosign validator
// trusting keyPEM.
func namespaceSpec(i int, keyPEM string) map[string]any {
	rules := make([]any, 0, 10)
	for j := range 9 {
		rules = append(rules, map[string]any{"pattern": fmt.Sprintf("registry.example.com/ns%d/app%d/**", i, j)})
	}
	rules = append(rules, map[string]any{"pattern": "registry.example.com/demo/**"})
	return map[string]any{
		"validators": []any{map[string]any{"name": "default", "type": "cosign", "trustRoots": []any{map[string]any{"name": "team", "key": keyPEM}}}},
		"rules":      rules,
	}
}

// TestMemory: the source holding 1,000 ImagePolicies of 10 rules each,
// each with its own key, and the ClusterImagePolicy delegating to them —
// the informers' caches, the compiled units and the engine, end to end
// from the dynamic client's list and watch — takes less than 100 MiB of
// heap. The objects are served by client-go's fake dynamic client: the
// heap measured must be this process's, and the fake's own copies are
// made before the first reading.
func TestMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 1,000 keys")
	}
	const n = 1000
	objs := []k8sruntime.Object{resource(policy.KindCluster, "", "base", map[string]any{
		"validators": []any{map[string]any{"name": "unused", "type": "static", "approve": false}},
		"rules":      []any{map[string]any{"pattern": "registry.example.com/**", "validator": "namespace"}},
	})}
	for i := range n {
		objs = append(objs, resource(policy.Kind, fmt.Sprintf("ns%d", i), "keys", namespaceSpec(i, testutil.NewKey(t).PEM)))
	}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(k8sruntime.NewScheme(), map[schema.GroupVersionResource]string{
		v1alpha1.ClusterImagePolicies: "ClusterImagePolicyList", v1alpha1.ImagePolicies: "ImagePolicyList"}, objs...)
	objs = nil
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := New(client, Options{NoStatus: true})
	if src.Engine() != nil || src.Synced() {
		t.Fatal("an engine before the resources were read")
	}
	go src.Run(ctx)
	deadline := time.Now().Add(time.Minute)
	for src.Engine() == nil || len(src.Engine().Units()) < n+1 {
		if time.Now().After(deadline) {
			t.Fatalf("the source did not read the %d objects", n+1)
		}
		time.Sleep(50 * time.Millisecond)
	}
	eng := src.Engine()
	if d := eng.EvaluateFor(ctx, "ns7", "registry.example.com/elsewhere/app@sha256:"+fmt.Sprintf("%064d", 0)); d.Allowed {
		t.Errorf("an image no ImagePolicy of its namespace covers is allowed: %s", d.Reason)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	extra := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
	t.Logf("policy source with 1,000 ImagePolicies × 10 rules and 1 ClusterImagePolicy: %.1f MiB of heap (generation %d)", extra, eng.Generation())
	if extra > 100 {
		t.Errorf("%.1f MiB of heap, want less than 100", extra)
	}
	runtime.KeepAlive(client)
}

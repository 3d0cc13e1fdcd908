package policysource

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policy/v1alpha1"
)

// TestRejected: an object that does not compile is reported to Rejected
// (the policy-reload-failed alert) with its name and the error.
func TestRejected(t *testing.T) {
	t.Parallel()
	bad := resource(policy.KindCluster, "", "broken", map[string]any{
		"rules": []any{map[string]any{"pattern": "**", "validator": "missing"}},
	})
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(k8sruntime.NewScheme(), map[schema.GroupVersionResource]string{
		v1alpha1.ClusterImagePolicies: "ClusterImagePolicyList", v1alpha1.ImagePolicies: "ImagePolicyList"}, bad)
	var mu sync.Mutex
	var got []string
	src := New(client, Options{NoStatus: true, Rejected: func(object string, err error) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, object+": "+err.Error())
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go src.Run(ctx)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Rejected not called")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.Contains(got[0], "broken") || !strings.Contains(got[0], "missing") {
		t.Errorf("Rejected with %q", got)
	}
}

package policysource

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policy/v1alpha1"
)

// TestStatusConflict: a status write that conflicts (another replica
// wrote first) reads the object again and writes once more only when the
// object still does not say it. A fake client: the real API server's
// conflicts cannot be timed from a test.
func TestStatusConflict(t *testing.T) {
	t.Parallel()
	obj := resource(policy.KindCluster, "", "base", map[string]any{
		"validators": []any{map[string]any{"name": "allow", "type": "static", "approve": true}},
		"rules":      []any{map[string]any{"pattern": "**", "validator": "allow"}},
	})
	for _, tc := range []struct {
		name        string
		otherWrites bool // the replica that won wrote the same status
		wantWrites  int
	}{
		{"another write, another status", false, 2},
		{"another replica wrote it", true, 1},
	} {
		client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(k8sruntime.NewScheme(), map[schema.GroupVersionResource]string{
			v1alpha1.ClusterImagePolicies: "ClusterImagePolicyList", v1alpha1.ImagePolicies: "ImagePolicyList"}, obj.DeepCopy())
		src := New(client, Options{})
		e := &entry{uid: obj.GetUID(), seen: 1, obj: obj.DeepCopy()}
		u, err := src.compile(key{policy.KindCluster, "", "base"}, obj)
		if err != nil {
			t.Fatal(err)
		}
		e.unit = u
		want := e.status()
		writes := 0
		client.PrependReactor("update", "clusterimagepolicies", func(a k8stesting.Action) (bool, k8sruntime.Object, error) {
			if a.GetSubresource() != "status" {
				return false, nil, nil
			}
			writes++
			if writes > 1 {
				return false, nil, nil
			}
			if tc.otherWrites {
				o := a.(k8stesting.UpdateAction).GetObject().(*unstructured.Unstructured)
				if err := client.Tracker().Update(v1alpha1.ClusterImagePolicies, o, ""); err != nil {
					t.Fatal(err)
				}
			}
			return true, nil, apierrors.NewConflict(v1alpha1.ClusterImagePolicies.GroupResource(), "base", nil)
		})
		if err := src.writeStatus(context.Background(), e.obj, want); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := client.Resource(v1alpha1.ClusterImagePolicies).Get(context.Background(), "base", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !same(statusOf(got), want) || writes != tc.wantWrites {
			t.Errorf("%s: status %v after %d writes; want %v after %d", tc.name, got.Object["status"], writes, want, tc.wantWrites)
		}
	}
}

// TestStatusMessage: an invalid object's message says what stays in
// force and is cut at MaxMessage bytes, on a character boundary.
func TestStatusMessage(t *testing.T) {
	t.Parallel()
	obj := resource(policy.KindCluster, "", "base", nil)
	obj.SetGeneration(3)
	long := strings.Repeat("spec.rules[0].validator: unknown validator \"ä\"\n", 500)
	for _, tc := range []struct {
		name string
		e    entry
		want string
	}{
		{"never compiled", entry{obj: obj, problems: "invalid policy: x"}, "no generation of this object compiled"},
		{"long", entry{obj: obj, problems: long}, "(cut; signet policy lint lists every problem)"},
	} {
		st := tc.e.status()
		c := st.Conditions[0]
		if c.Status != "False" || c.Reason != v1alpha1.ReasonInvalid || st.ObservedGeneration != 3 || c.ObservedGeneration != 3 ||
			!strings.Contains(c.Message, tc.want) || len(c.Message) > MaxMessage || !utf8.ValidString(c.Message) {
			t.Errorf("%s: %+v", tc.name, st)
		}
	}
}

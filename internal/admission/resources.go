package admission

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/workload"
)

// decoder returns how to read the images of objects of kind gvk: the
// built-in kinds' walker, or for a kind the policy declares
// (spec.resources) its pod templates and expressions; nil for any other
// kind, which signet does not check. A declared kind is matched on group,
// version and kind as the API server sent them.
func decoder(ctx context.Context, eng *policy.Engine, gvk metav1.GroupVersionKind) func(raw []byte) (*workload.Object, error) {
	if workload.Supported(gvk.Kind) {
		return func(raw []byte) (*workload.Object, error) { return workload.Decode(gvk.Kind, raw) }
	}
	res := eng.Resource(gvk.Group, gvk.Version, gvk.Kind)
	if res == nil {
		return nil
	}
	return func(raw []byte) (*workload.Object, error) { return workload.DecodeResource(ctx, res, raw) }
}

package admission

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/workload"
)

// checked says whether signet reads objects of kind gvk: the built-in
// kinds (res nil), and the kinds the policy declares (spec.resources),
// matched on group, version and kind as the API server sent them (res says
// where their images are). Any other kind is not checked.
func checked(eng *policy.Engine, gvk metav1.GroupVersionKind) (res *workload.Resource, ok bool) {
	if workload.Supported(gvk.Kind) {
		return nil, true
	}
	res = eng.Resource(gvk.Group, gvk.Version, gvk.Kind)
	return res, res != nil
}

// decode reads the images of an object of a checked kind.
func decode(ctx context.Context, kind string, res *workload.Resource, raw []byte) (*workload.Object, error) {
	if res != nil {
		return workload.DecodeResource(ctx, res, raw)
	}
	return workload.Decode(kind, raw)
}

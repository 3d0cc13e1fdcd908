package kube

import (
	"context"
	"fmt"

	kjson "sigs.k8s.io/json"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policy/v1alpha1"
)

// ListPolicies lists, once, the policy objects that take part in the
// decisions for the workloads of namespace: every ClusterImagePolicy, and
// the ImagePolicies of namespace (none when namespace is ""), page by page
// as List does, in the order the API returns them. For signet verify;
// signet serve watches them.
func (l *Lister) ListPolicies(ctx context.Context, namespace string) (policy.Set, error) {
	var set policy.Set
	err := l.list(ctx, v1alpha1.ClusterImagePolicies, "", func(raw []byte) error {
		var o v1alpha1.ClusterImagePolicy
		if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &o); err != nil {
			return fmt.Errorf("decoding a ClusterImagePolicy: %w", err)
		}
		set.Objects = append(set.Objects, policy.Object{
			Ref: policy.ObjectRef{Kind: policy.KindCluster, Name: o.Name, Generation: o.Generation}, Doc: o.Document()})
		return nil
	})
	if err != nil || namespace == "" {
		return set, err
	}
	err = l.list(ctx, v1alpha1.ImagePolicies, namespace, func(raw []byte) error {
		var o v1alpha1.ImagePolicy
		if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &o); err != nil {
			return fmt.Errorf("decoding an ImagePolicy: %w", err)
		}
		set.Objects = append(set.Objects, policy.Object{
			Ref: policy.ObjectRef{Kind: policy.Kind, Namespace: o.Namespace, Name: o.Name, Generation: o.Generation}, Doc: o.Document()})
		return nil
	})
	return set, err
}

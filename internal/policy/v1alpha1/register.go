package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// SchemeGroupVersion is the group and version of the policy resources.
var SchemeGroupVersion = schema.GroupVersion{Group: "signet.dev", Version: "v1alpha1"}

// Resources, as the API serves them (GroupVersionResource).
var (
	ClusterImagePolicies = SchemeGroupVersion.WithResource("clusterimagepolicies")
	ImagePolicies        = SchemeGroupVersion.WithResource("imagepolicies")
)

// AddToScheme registers the policy types in a scheme (for typed clients
// and conversions from unstructured objects).
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &ClusterImagePolicy{}, &ClusterImagePolicyList{}, &ImagePolicy{}, &ImagePolicyList{})
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}

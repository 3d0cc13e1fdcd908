package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/signet-dev/signet/internal/policy"
)

// ConditionReady is the condition saying whether the policy is in force:
// True when its spec compiled, False with a reason and a message (the
// field paths of its problems) when it did not.
const ConditionReady = "Ready"

// Reasons of the Ready condition.
const (
	// ReasonCompiled: the spec compiled and its rules are in force.
	ReasonCompiled = "Compiled"
	// ReasonInvalid: the spec does not compile; the last valid spec of the
	// object, if any, stays in force.
	ReasonInvalid = "Invalid"
)

// ClusterImagePolicy is a policy for the whole cluster. All of them
// together are the cluster policy; a policy file is one more.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=cip,categories=signet
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Rules",type=integer,JSONPath=`.status.rules`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterImagePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the policy: the body of a policy file (mode, pinning,
	// validators, rules, insecureRegistries).
	Spec policy.Spec `json:"spec"`
	// Status is written by signet.
	// +optional
	Status Status `json:"status,omitempty"`
}

// ClusterImagePolicyList is a list of ClusterImagePolicies.
//
// +kubebuilder:object:root=true
type ClusterImagePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterImagePolicy `json:"items"`
}

// ImagePolicy is a policy of one namespace: its rules add requirements
// for the workloads of that namespace, and it can never admit an image the
// cluster policy denies.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=ip,categories=signet
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Rules",type=integer,JSONPath=`.status.rules`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="!has(self.spec.resources)",message="resources may only be declared by a ClusterImagePolicy (the webhook's kinds are the cluster's)",fieldPath=".spec.resources"
type ImagePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the policy: the body of a policy file (mode, pinning,
	// validators, rules, insecureRegistries).
	Spec policy.Spec `json:"spec"`
	// Status is written by signet.
	// +optional
	Status Status `json:"status,omitempty"`
}

// ImagePolicyList is a list of ImagePolicies.
//
// +kubebuilder:object:root=true
type ImagePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImagePolicy `json:"items"`
}

// Status says whether signet compiled a policy object.
type Status struct {
	// ObservedGeneration is the metadata.generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, True when the spec compiled and is in force,
	// False with the reason and the field paths of its problems.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Rules is the number of rules compiled from the spec.
	// +optional
	Rules int32 `json:"rules,omitempty"`
}

// Document is the policy of p, for policy.Compile, whose problems then
// have the resource's field paths ("spec.rules[0].validator").
func (p *ClusterImagePolicy) Document() *policy.Document {
	return policy.ResourceDocument(policy.KindCluster, p.Name, *p.Spec.DeepCopy())
}

// Document is the policy of p, for policy.Compile, whose problems then
// have the resource's field paths ("spec.rules[0].validator"). Its name is
// the object's name; the namespace is the caller's to carry.
func (p *ImagePolicy) Document() *policy.Document {
	return policy.ResourceDocument(policy.Kind, p.Name, *p.Spec.DeepCopy())
}

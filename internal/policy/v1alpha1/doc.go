// Package v1alpha1 holds the Kubernetes API types of signet's policy
// resources, group signet.dev, version v1alpha1: ClusterImagePolicy
// (cluster-scoped) and ImagePolicy (namespaced). Their spec is
// policy.Spec, the body of a policy file — one schema, one compiler — and
// their status says whether signet compiled them (observedGeneration, a
// Ready condition, the rule count).
//
// The CRDs in deploy/crds (and the Helm chart's copy) and the deepcopy
// functions here and in package policy are generated from these types and
// the kubebuilder markers on policy.Spec by controller-gen (make generate,
// hack/generate.sh); test/crds fails when they are out of date.
//
// A CEL rule (x-kubernetes-validations) is checked by the API server
// against a cost budget that multiplies by the possible number of list
// items; validators, trustRoots and rules have no maxItems (a file has no
// such bound), so rules under validators[].trustRoots[] must stay as cheap
// as has() and size(). The API server refuses a CRD over budget: test/e2e
// TestCRDs installs them. What the schema cannot say, signet checks.
//
// Why a package of its own, under policy: the types are the policy's
// Kubernetes form, so they live beside it, but the dependency runs one way
// only — v1alpha1 imports policy (and apimachinery's meta types), policy
// never imports v1alpha1 — so the compiler and signet verify --policy FILE
// need no Kubernetes object machinery. Registration uses apimachinery's
// runtime.SchemeBuilder, not controller-runtime's: nothing here pulls
// controller-runtime into the binary.
//
// +kubebuilder:object:generate=true
// +groupName=signet.dev
package v1alpha1

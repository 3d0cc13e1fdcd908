// Package admission is the Kubernetes edge of signet: it decodes
// AdmissionReviews (admission.k8s.io/v1 and v1beta1), finds every image in
// the object (package workload), asks the policy engine about each, and
// answers with a denial listing every failing image, or an admission with
// a JSON patch pinning each verified tag to its digest.
//
// It is thin on purpose: what an image's verdict is belongs to package
// policy; this package decides only what a verdict means for the request —
// the mode (enforce, warn, audit), pinning, and the shortcuts that keep a
// fail-closed webhook from bricking a cluster (updates of objects being
// deleted that change no image, unchanged images, excluded namespaces).
// An owner never vouches for a child: child approval only names, in the
// decision log, the owner whose digest-pinned images an admitted object
// carries.
//
// It also answers signet's webhook for its own policy resources
// (PolicyHandler): a ClusterImagePolicy or ImagePolicy is admitted only if
// policy.CompileUnit compiles it offline, and refused with every problem
// by its field path otherwise.
package admission

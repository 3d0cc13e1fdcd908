// Package externaldata answers OPA Gatekeeper's external-data provider
// protocol (externaldata.gatekeeper.sh/v1beta1): Gatekeeper POSTs a
// ProviderRequest whose keys are image references, and gets back a
// ProviderResponse with one item per key — value, the reference pinned to
// the digest signet verified (repo@sha256:…), or error, the reason it was
// denied or could not be decided.
//
// Each key is decided by the policy in force exactly as the admission
// webhook decides an image, through admission.Reviewer.Decide: the same
// engine, the same verification cache, the same process-wide limits. The
// request names no namespace (Gatekeeper sends keys only), so keys are
// decided as for a cluster-scoped object: by the policy file and the
// ClusterImagePolicies, never by a namespace's ImagePolicies. What a
// denial does is Gatekeeper's (the Constraint's enforcementAction): a
// rule's mode (warn, audit) and signet's pinning settings do not apply
// here.
//
// Who may ask is the server's: package server mounts the handler only with
// --externaldata-client-ca and checks the client certificate first.
package externaldata

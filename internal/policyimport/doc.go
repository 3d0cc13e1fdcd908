// Package policyimport converts other admission controllers' policies —
// Connaisseur's Helm values, Sigstore policy-controller ClusterImagePolicy
// objects, Kyverno verifyImages rules — into a signet policy.
//
// Each converter builds a policy.Document and a Note for every construct
// that has no exact equivalent; Emit writes the document as YAML with each
// note as a comment on the field it concerns. What matches an image must
// match the same images after conversion: each tool's glob syntax is
// translated into signet's patterns, not copied.
package policyimport

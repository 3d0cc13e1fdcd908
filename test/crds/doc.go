// Package crds checks what hack/generate.sh derives from the policy types
// with the pinned controller-gen: that deploy/crds, the Helm chart's copy
// and the deepcopy functions are up to date, and that the schemas say what
// the policy types promise (enums, required fields, CEL rules, short
// names, printer columns, the status subresource). The API server's side
// (objects accepted and rejected, kubectl explain) is in test/e2e.
package crds

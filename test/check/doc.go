// Package check tests signet check on the output of real tools: helm
// template of signet's own chart and kustomize build piped to
// `signet check -f -`, against images signed by the real cosign in the
// distribution registry, with the built signet binary.
package check

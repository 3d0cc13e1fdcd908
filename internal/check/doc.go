// Package check holds the contract of signet check: what a parsed input
// file reports (its image references, each with its place in the file) and
// how it is rewritten when images are pinned, and the report formats over
// the decisions (text and JSON in the command; SARIF 2.1.0 and JUnit XML
// here).
//
// Kubernetes manifests (package manifest) and Compose files (package
// compose) each parse into a File; the command decides each distinct image
// once with the policy engine and writes the Report.
package check

// Package attest is everything about one in-toto attestation statement:
// parsing and bounding the Statement, matching its subjects to a digest,
// mapping predicate type names to URIs, and compiling and evaluating the CEL
// conditions of an attestation requirement. It knows nothing of registries
// or signatures: its callers verify the DSSE envelope first and hand it the
// payload.
package attest

// Package notation verifies Notary Project (Notation, "Notary v2")
// signatures with notation-go.
//
// Signatures are OCI artifacts of type application/vnd.cncf.notary.signature
// attached to the image as OCI 1.1 referrers — listed through the referrers
// API or, on registries without it, the referrers tag schema — each holding
// one JWS (application/jose+json) or COSE (application/cose) envelope.
//
// As for cosign, signatures are fetched once per image, with signet's own
// registry client, and every trust root is tested against the same
// envelopes: one notation-go verifier per trust root, bound at compile time
// to a trust policy whose only trust stores are that root's CA (a "ca" or
// "signingAuthority" store: signingService or signingAuthority) and TSA
// certificates, and whose trustedIdentities are the root's. notation-go
// does the cryptography and the Notary Project trust-policy checks
// (integrity, authenticity, trusted identities, expiry, timestamps,
// revocation) at the verification level and overrides the rule asks for.
//
// Alternatively (LoadConfig, NewFromConfig) a user's notation
// configuration — trustpolicy.json and the x509 trust store directory — is
// read within bounds and evaluated as written, but for revocation, which
// stays the rule's.
package notation

// Package cosign verifies cosign signatures made with keys.
//
// Two storage formats are read, both from the registry that holds the image:
//
//   - legacy signatures: the manifest tagged "sha256-<hex>.sig" in the image's
//     repository, one layer per signature, the simple-signing payload naming
//     the signed digest (cosign v1/v2 default);
//   - Sigstore bundles (v0.3) attached as OCI 1.1 referrers of the image
//     (cosign v3 default, cosign v2 --new-bundle-format): a DSSE envelope
//     around an in-toto statement whose subject is the image digest and
//     whose predicate type is https://sigstore.dev/cosign/sign/v1. Referrers
//     are listed through the referrers API, falling back to the referrers tag
//     schema ("sha256-<hex>") on registries without it.
//
// Signatures are fetched once per image; every trust root is then tested
// against the same in-memory copies, so ten trust roots cost no more registry
// requests than one. Legacy signatures are read first and referrers only when
// they do not already satisfy the quorum.
//
// Cryptography is cosign's (legacy) and sigstore-go's (bundles); this package
// only decides what to fetch and how to combine the answers.
package cosign

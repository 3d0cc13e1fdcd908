// Package notaryv1 verifies Docker Content Trust: TUF trust data published
// to a Notary v1 server (notary-server), as `docker trust sign` and the
// notary CLI write it.
//
// For an image repository registry/path, the GUN (globally unique name) is
// the normalised "registry/path" (docker.io/library/nginx on Docker Hub).
// The trust data is read over HTTPS from
// {host}/v2/{gun}/_trust/tuf/{role}.json — root, timestamp, snapshot,
// targets and every delegation the snapshot lists — with the bearer-token
// handshake registries use (go-containerregistry's transport; scope
// repository:{gun}:pull), and verified with notary's own TUF code
// (tuf.RepoBuilder and trustpinning): signatures and thresholds of every
// role, checksums and sizes from the snapshot and timestamp, version
// rollback against the highest versions seen, and expiry against a clock.
//
// A trust root is a pinned root public key. It counts as a signer when the
// GUN's root.json is signed by it (notary pins the root certificate whose
// public key it is, with the root role's threshold) and the rest of the
// chain verifies. Thresholds and required roots across trust roots come from
// verify.Quorum, like every other scheme.
//
// As Docker Content Trust does, a tag's digest comes from the signed
// targets, not from the registry: Verifier implements verify.TagResolver,
// which the policy engine uses instead of registry resolution. Targets are
// looked up the way docker does (targets/releases first, then the targets
// role and its other delegations); a rule may instead require named
// delegations, each of which must have signed the tag with the same digest.
package notaryv1

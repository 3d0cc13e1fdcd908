// Package keyless tests signet's cosign keyless verification against a
// private Sigstore deployment (harness.StartSigstore: MariaDB, Trillian,
// Rekor, Fulcio with an ephemeral CA, and an OIDC issuer written for the
// tests), with signatures made by the real cosign v2 and v3 CLIs and
// checked by the built signet binary; TestReleaseKeyless runs make release
// keyless against that deployment. testTUF serves the deployment's
// trusted root from a real TUF repository on loopback (a validator's tuf:
// {mirror, root}) and checks the first fetch, refresh, expiry while the
// mirror is down, and a tampered or rolled-back repository.
//
// Rekor and Fulcio open metrics listeners on all interfaces (Rekor on the
// fixed :2112), so TestMain re-executes the test binary in a private
// network namespace with only loopback up (harness.RunInNetNS): the
// registries, the stack and signet all live there, nothing is reachable
// from outside, and other test packages are unaffected.
package keyless

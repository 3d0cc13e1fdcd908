// Package keysource resolves public keys that live outside the policy:
// a Kubernetes Secret (k8s://namespace/name[/key]) or a KMS key
// (awskms://, gcpkms://, azurekms://, hashivault://, through sigstore's KMS
// providers).
//
// Keys are resolved when a verification first needs them, never when a
// policy is loaded, so a policy naming an unreachable KMS still loads and
// every other rule keeps working. A resolution runs in the background and
// is shared by concurrent verifications; callers wait no longer than their
// context allows. Resolved keys are kept for a TTL (so a rotated Secret is
// picked up), with their fingerprint (Source.Fingerprint), which result
// caches key on so that a rotated key's results are not reused; failures are remembered briefly and reported as the cause of
// an inconclusive verification, naming the key, never its material.
//
// The KMS provider implementations are linked into the signet binary by
// importing package kmsproviders; without it a KMS key is an error naming
// the missing provider.
package keysource

// Package keysource resolves public keys that live outside the policy:
// a Kubernetes Secret (k8s://namespace/name[/key]) or a KMS key
// (awskms://, gcpkms://, azurekms://, hashivault://, through sigstore's KMS
// providers).
//
// Keys are resolved when a verification first needs them, never when a
// policy is loaded, so a policy naming an unreachable KMS still loads and
// every other rule keeps working. A resolution runs in the background and
// is shared by concurrent verifications; callers wait no longer than their
// context allows. Resolved keys are kept for a TTL, with their fingerprint
// (Source.Fingerprint), which result caches key on so that a rotated key's
// results are not reused; failures are remembered briefly and reported as
// the cause of an inconclusive verification, naming the key, never its
// material.
//
// A rotation is picked up sooner than the TTL by Source.Refresh, which
// reads the key at once, past any Secret cache (a Secrets that is also a
// FreshSecrets, such as kube.SecretData, which updates its cache so that
// admission reads the new data too), puts it in use and reports whether it
// changed. Watch refreshes every key of the policy in force that way, each
// once per interval (signet serve: --key-check-interval, default 30s),
// spread over the interval and at most MaxPerSecond reads a second, and
// calls back for each key that changed so that the images verified with
// the old key are verified again. A key that cannot be read again stays in
// use until its TTL, as when its background resolution fails.
//
// The KMS provider implementations are linked into the signet binary by
// importing package kmsproviders; without it a KMS key is an error naming
// the missing provider.
package keysource

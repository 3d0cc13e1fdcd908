// Package cache keeps verification results so that an image verified once
// is admitted again without touching the registry, and shares concurrent
// verifications of the same image.
//
// Keys are the compiled rule's hash (a policy change that alters a rule or
// its validator invalidates that rule's entries, and nothing else) plus
// repository@digest (signatures live next to the image, so the same digest
// in two repositories is two entries) plus, for verifiers whose key
// material is resolved at verification time (verify.MaterialFingerprinter:
// keys in Secrets or a KMS, a trusted root file or TUF repository), the
// fingerprint of the material in use now, so that a rotated key's results
// are not served; material that cannot be resolved gets no cached answer.
//
// A verified result is shared by every caller. A failed one may depend on
// who asked (a registry that hides a private image answers 404 to callers
// without credentials), so it is kept, and a verification or tag
// resolution in flight is joined, only under the same credentials
// (registry.CredentialsID). Only definitive outcomes are kept:
// verified results for TTL, failed results for FailedTTL (briefly, so that
// signing an image takes effect soon); inconclusive results (network,
// timeout) are never stored, so a registry outage is never remembered as an
// answer.
//
// Layers: a bounded in-memory LRU in front of an optional Redis shared by
// replicas (verified results only: credential identities are local to a
// process). Redis is an accelerator, never a dependency: every call has a
// short timeout and a circuit breaker stops calling it for a while after a
// failure, so an unreachable Redis costs nothing but cache misses.
//
// Tag resolution (tag → digest) is cached separately, in memory, for
// TagTTL: a tag moved in the registry is seen after at most TagTTL, and
// in the meantime the admission pins the digest that was verified.
package cache

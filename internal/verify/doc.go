// Package verify is the contract every signature scheme implements.
//
// A Verifier receives an image already resolved to a digest — never a tag —
// and answers with one of three outcomes:
//
//   - verified: Verify returns a nil error;
//   - failed: Verify returns an error wrapping *FailedError. The evidence was
//     examined and is missing, invalid or from the wrong signer. Definitive;
//     safe to cache for a short while;
//   - inconclusive: Verify returns an error wrapping *InconclusiveError. The
//     evidence could not be examined (registry down, 5xx, 429, timeout). The
//     image is denied, but the answer must never be cached as a verdict.
//
// Any other error is treated as inconclusive by Classify, so a new failure
// mode in a scheme can never turn into an accidental allow.
//
// Every Verify call also returns a Result that records each check made (which
// signature, which trust root, what happened) so that the CLI, the audit log
// and the admission denial can say exactly why.
package verify

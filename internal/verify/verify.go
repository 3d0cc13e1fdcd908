package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/imageref"
)

// Image is what a Verifier checks: one manifest, addressed by digest.
type Image struct {
	// Ref is repository@digest. It is the only name a verifier may fetch by.
	Ref name.Digest
	// Tag is the tag the workload named the image by, empty when it named
	// a digest only. Verifiers never fetch by it; attestation conditions
	// may read it (image.tag), and a verifier whose result depends on it
	// says so (TagDependent) so that caches key on it.
	Tag string
}

// TagDependent is an optional capability of a Verifier whose result may
// depend on Image.Tag (attestation conditions reading image.tag or
// image.reference). Caches include the tag in their key when DependsOnTag
// is true; found by type assertion, like TagResolver.
type TagDependent interface {
	DependsOnTag() bool
}

// Digest returns the "algorithm:hex" digest of the image.
func (i Image) Digest() string { return i.Ref.DigestStr() }

// Verifier checks the signatures of one image against trust material bound
// when the policy was compiled.
type Verifier interface {
	Verify(ctx context.Context, img Image) (*Result, error)
}

// TagResolver is an optional capability of a Verifier whose signed trust
// data maps tags to digests (Notary v1 / Docker Content Trust). When a
// rule's verifier implements it, the engine resolves references with it
// instead of asking the registry, so the digest verified and pinned is the
// one the signers named. ResolveTag returns a reference that already carries
// a digest unchanged when the trust data allows it (a tag and a digest must
// agree), and errors with the same three outcomes as Verify.
type TagResolver interface {
	ResolveTag(ctx context.Context, ref imageref.Ref) (name.Digest, error)
}

// MaterialFingerprinter is an optional capability of a Verifier whose
// trust material is resolved when it verifies rather than when the policy
// compiles: keys held in Secrets or a KMS, a Sigstore trusted root read
// from a file or fetched from TUF. MaterialFingerprint identifies the
// material the verifier would verify with now, so that a result cached
// under other material (a rotated key, an edited trusted root) is never
// reused; it is found by type assertion, like TagResolver. It returns ""
// when all the material is in the policy (the rule's hash covers it), and
// an error (inconclusive) when the material cannot be resolved now: the
// caller must then not answer from a cache.
type MaterialFingerprinter interface {
	MaterialFingerprint(ctx context.Context) (string, error)
}

// Func adapts a function to the Verifier interface.
type Func func(ctx context.Context, img Image) (*Result, error)

// Verify calls f.
func (f Func) Verify(ctx context.Context, img Image) (*Result, error) { return f(ctx, img) }

// Result is the evidence a Verifier gathered.
type Result struct {
	// Signers lists the trust roots counted toward the quorum, each
	// satisfied by a signer of its own (Quorum.Signers): a signature valid
	// for two roots is listed under one of them.
	Signers []string `json:"signers,omitempty"`
	// Checks lists every check made, in order.
	Checks []Check `json:"checks,omitempty"`
	// Attestations lists the outcome of each attestation requirement of
	// the rule, in the rule's order.
	Attestations []AttestationResult `json:"attestations,omitempty"`
	// Cached is true when the result was remembered from an earlier
	// verification instead of being made now.
	Cached bool `json:"cached,omitempty"`
}

// AttestationResult is the outcome of one attestation requirement: which
// attestation satisfied it, or why none did.
type AttestationResult struct {
	// Name is the requirement's name in the rule.
	Name string `json:"name"`
	// Type is the predicate type URI required.
	Type string `json:"type"`
	// Outcome is verified, failed or inconclusive.
	Outcome Outcome `json:"outcome"`
	// Signers lists the trust roots that signed the attestation that
	// satisfied the requirement.
	Signers []string `json:"signers,omitempty"`
	// Statement is the sha256 digest of that attestation's in-toto
	// statement, Envelope the digest of the blob that carried it (DSSE
	// envelope or Sigstore bundle), and Source where it was found (an .att
	// tag layer or a referrer).
	Statement string `json:"statement,omitempty"`
	Envelope  string `json:"envelope,omitempty"`
	Source    string `json:"source,omitempty"`
	// Reason explains the outcome: the satisfied requirement, or the
	// first failing condition of each attestation examined.
	Reason string `json:"reason"`
}

// Check is one signature tested against one trust root, or one step that
// stopped verification early.
type Check struct {
	// TrustRoot is the trust root the check used, empty for steps that
	// involve none (fetching signatures, say).
	TrustRoot string `json:"trustRoot,omitempty"`
	// Signature says which signature was examined, e.g.
	// "sha256-….sig#0" or "referrer sha256:…".
	Signature string `json:"signature,omitempty"`
	// Passed is true when the signature is valid for the trust root.
	Passed bool `json:"passed"`
	// Signer names who made a valid signature, so that one signer counts
	// for one trust root only: "key sha256:…" for a key (KeySigner), the
	// OIDC issuer and subject for a keyless certificate. Empty when the
	// check did not pass.
	Signer string `json:"signer,omitempty"`
	// Reason explains the result in words.
	Reason string `json:"reason"`

	// Kind is KindSignature or KindAttestation; empty for steps that
	// examined neither.
	Kind string `json:"kind,omitempty"`
	// Source is where the signature or attestation was found:
	// SourceSigTag, SourceAttTag, SourceReferrer, SourceNotaryV1 or
	// SourceNotation.
	Source string `json:"source,omitempty"`
	// Evidence is what the verification libraries read of the signature
	// (its fields are the check's in JSON); nil when there is nothing
	// more to say (a signature made with a key, without a log entry).
	*Evidence
}

// Evidence is what cosign, sigstore-go or notation-go read of a signature
// or attestation while checking it, kept for people (signet explain):
// nothing is decided on it.
type Evidence struct {
	// Subject is the signing certificate's subject: the subject
	// alternative name of a Fulcio certificate (the signer's identity),
	// the subject DN of a Notation one.
	Subject string `json:"subject,omitempty"`
	// Issuer is the OIDC issuer recorded in a Fulcio certificate.
	Issuer string `json:"issuer,omitempty"`
	// CertificateIssuer is the signing certificate's issuer.
	CertificateIssuer string `json:"certificateIssuer,omitempty"`
	// LogIndex and IntegratedTime are those of the transparency log
	// (Rekor) entry verified with the signature; nil when none was.
	LogIndex       *int64     `json:"rekorLogIndex,omitempty"`
	IntegratedTime *time.Time `json:"integratedTime,omitempty"`
	// Timestamps are the verified RFC 3161 timestamps (or a Notation
	// signature's authentic signing time).
	Timestamps []time.Time `json:"timestamps,omitempty"`
}

// Evidenced returns c's evidence, a new one of c's own when it has none.
func (c *Check) Evidenced() *Evidence {
	if c.Evidence == nil {
		c.Evidence = &Evidence{}
	}
	return c.Evidence
}

// The kinds of evidence a Check examines (Check.Kind).
const (
	KindSignature   = "signature"
	KindAttestation = "attestation"
)

// Where a Check's evidence was found (Check.Source).
const (
	SourceSigTag   = "sig tag"
	SourceAttTag   = "att tag"
	SourceReferrer = "Sigstore bundle, OCI referrer"
	SourceNotaryV1 = "Notary v1 trust data"
	SourceNotation = "Notation, OCI referrer"
)

// Add appends a check.
func (r *Result) Add(c Check) { r.Checks = append(r.Checks, c) }

// Outcome is the three-valued result of a verification, plus "static" for
// decisions made by policy alone.
type Outcome string

// The outcomes.
const (
	Verified     Outcome = "verified"
	Failed       Outcome = "failed"
	Inconclusive Outcome = "inconclusive"
	Static       Outcome = "static"
)

// FailedError reports that the image's signatures were examined and do not
// satisfy the trust policy.
type FailedError struct {
	Reason string
	Err    error
}

func (e *FailedError) Error() string {
	if e.Err != nil && !strings.Contains(e.Reason, e.Err.Error()) {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *FailedError) Unwrap() error { return e.Err }

// InconclusiveError reports that the evidence could not be examined.
type InconclusiveError struct {
	Reason string
	Err    error
}

func (e *InconclusiveError) Error() string {
	if e.Err != nil && !strings.Contains(e.Reason, e.Err.Error()) {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *InconclusiveError) Unwrap() error { return e.Err }

// Failf returns a *FailedError with a formatted reason.
func Failf(format string, args ...any) error {
	return &FailedError{Reason: fmt.Sprintf(format, args...)}
}

// Inconclusivef returns an *InconclusiveError with a formatted reason.
func Inconclusivef(format string, args ...any) error {
	return &InconclusiveError{Reason: fmt.Sprintf(format, args...)}
}

// Classify maps an error returned by Verify to an outcome. A nil error is
// Verified; an error that is neither failed nor inconclusive is treated as
// Inconclusive, never as a pass.
func Classify(err error) Outcome {
	if err == nil {
		return Verified
	}
	if _, ok := errors.AsType[*FailedError](err); ok {
		return Failed
	}
	return Inconclusive
}

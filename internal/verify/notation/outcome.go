package notation

import (
	"errors"
	"fmt"
	"strings"

	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"

	"github.com/signet-dev/signet/internal/verify"
)

// signerOf decides whether a signature notation-go accepted is a signer,
// and names it by its signing certificate's public key.
//
// At the permissive and audit levels notation-go logs some failed checks
// instead of failing: at audit even authenticity (a certificate chaining to
// no trusted CA, or matching no trusted identity). signet never counts
// such a signature: every integrity and authenticity check must have run
// and passed, and a certificate found revoked is never a signer either.
// What the levels may waive is only what notation's documentation says
// they are for: expiry, the authentic timestamp, and a revocation status
// that could not be established.
//
// The one exception is a rule that logs revocation explicitly
// (revocationValidations: log, logRevoked): a revoked certificate is then
// logged in the check's reason, as Notation would.
func signerOf(o *notationgo.VerificationOutcome, logRevoked bool) (string, error) {
	if o == nil || o.Error != nil {
		return "", errors.New("no verification outcome")
	}
	ran := map[trustpolicy.ValidationType]bool{}
	for _, r := range o.VerificationResults {
		if r == nil {
			continue
		}
		ran[r.Type] = true
		if r.Error != nil && !waivable(r) && !(logRevoked && r.Type == trustpolicy.TypeRevocation && r.Action == trustpolicy.ActionLog) {
			return "", fmt.Errorf("%s check failed (%v); such a signature never counts as signed, whatever the verification level", r.Type, r.Error)
		}
	}
	for _, t := range []trustpolicy.ValidationType{trustpolicy.TypeIntegrity, trustpolicy.TypeAuthenticity} {
		if !ran[t] {
			return "", fmt.Errorf("the %s check did not run", t)
		}
	}
	if o.EnvelopeContent == nil || len(o.EnvelopeContent.SignerInfo.CertificateChain) == 0 {
		return "", errors.New("no signing certificate")
	}
	return verify.KeySigner(o.EnvelopeContent.SignerInfo.CertificateChain[0].PublicKey)
}

// waivable reports whether a failed check is one the verification level
// may log instead of enforcing.
func waivable(r *notationgo.ValidationResult) bool {
	switch r.Type {
	case trustpolicy.TypeExpiry, trustpolicy.TypeAuthenticTimestamp:
		return true
	case trustpolicy.TypeRevocation:
		// notation-go words a revoked certificate "… is revoked" and an
		// unknown status "… revocation status is unknown" or "unable to
		// check revocation status, …"; anything else is not waived.
		msg := r.Error.Error()
		return strings.HasSuffix(msg, "revocation status is unknown") || strings.HasPrefix(msg, "unable to check revocation status")
	}
	return false
}

// logged describes the failed checks the verification level waived, for
// the check's reason ("" when none), naming the rule's level.
func logged(o *notationgo.VerificationOutcome, level string) string {
	var out []string
	for _, r := range o.VerificationResults {
		if r != nil && r.Error != nil {
			out = append(out, fmt.Sprintf("%s: %v", r.Type, r.Error))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return fmt.Sprintf(" (logged, not enforced at verification level %s: %s)", level, strings.Join(out, "; "))
}

// withOutcome adds to c what notation-go read of the signature: the
// signing certificate's subject and issuer, and the authentic signing
// time of a signing-authority signature.
func withOutcome(c verify.Check, o *notationgo.VerificationOutcome) verify.Check {
	if o == nil || o.EnvelopeContent == nil || len(o.EnvelopeContent.SignerInfo.CertificateChain) == 0 {
		return c
	}
	cert := o.EnvelopeContent.SignerInfo.CertificateChain[0]
	e := &verify.Evidence{Subject: cert.Subject.String(), CertificateIssuer: cert.Issuer.String()}
	if t, err := o.EnvelopeContent.SignerInfo.AuthenticSigningTime(); err == nil && !t.IsZero() {
		e.Timestamps = append(e.Timestamps, t.UTC())
	}
	c.Evidence = e
	return c
}

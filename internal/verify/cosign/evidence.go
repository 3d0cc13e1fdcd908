package cosign

import (
	"crypto/x509"
	"encoding/asn1"
	"reflect"
	"time"

	"github.com/sigstore/cosign/v2/pkg/oci"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/signet-dev/signet/internal/verify"
)

// The evidence a check reports (verify.Check's Subject, Issuer, LogIndex,
// Timestamps…) is what cosign and sigstore-go read and verified, not a
// parse of signet's own: the certificate as sigstore-go summarises it, the
// Rekor entry of the bundle cosign verified, the timestamps sigstore-go
// returns as verified.

// withCert adds what a signing certificate says (as sigstore-go reads it
// to match identities) to c; nothing when there is none (a key).
func withCert(c verify.Check, cert *x509.Certificate) verify.Check {
	if cert == nil {
		return c
	}
	e := &verify.Evidence{CertificateIssuer: cert.Issuer.String()}
	if s, err := certificate.SummarizeCertificate(cert); err == nil {
		e.Subject, e.Issuer = s.SubjectAlternativeName, s.Issuer
		if s.CertificateIssuer != "" {
			e.CertificateIssuer = s.CertificateIssuer
		}
	}
	c.Evidence = e
	return c
}

// legacyCert returns the certificate of a legacy signature, nil for one
// made with a key.
func legacyCert(sig oci.Signature) *x509.Certificate {
	if sig == nil {
		return nil
	}
	c, err := sig.Cert()
	if err != nil {
		return nil
	}
	return c
}

// signingTimes is what dated a legacy keyless signature once verified:
// its RFC 3161 timestamp and its Rekor entry.
type signingTimes struct {
	tsa            *time.Time
	logIndex       *int64
	integratedTime *time.Time
}

// add records the times in c.
func (t signingTimes) add(c verify.Check) verify.Check {
	if t == (signingTimes{}) {
		return c
	}
	e := c.Evidenced()
	if t.tsa != nil {
		e.Timestamps = append(e.Timestamps, *t.tsa)
	}
	e.LogIndex, e.IntegratedTime = t.logIndex, t.integratedTime
	return c
}

// withBundleResult adds what sigstore-go verified of a bundle to c: the
// certificate's summary, the transparency log entry and the RFC 3161
// timestamps.
func withBundleResult(c verify.Check, b *sgbundle.Bundle, out *sgverify.VerificationResult) verify.Check {
	if out == nil || out.Signature == nil && len(out.VerifiedTimestamps) == 0 {
		return c
	}
	var e verify.Evidence
	if out.Signature != nil && out.Signature.Certificate != nil {
		s := out.Signature.Certificate
		e.Subject, e.Issuer, e.CertificateIssuer = s.SubjectAlternativeName, s.Issuer, s.CertificateIssuer
	}
	for _, ts := range out.VerifiedTimestamps {
		switch ts.Type {
		case "Tlog":
			t := ts.Timestamp.UTC()
			e.IntegratedTime = &t
		case "TimestampAuthority":
			e.Timestamps = append(e.Timestamps, ts.Timestamp.UTC())
		}
	}
	if e.IntegratedTime != nil {
		if entries, err := b.TlogEntries(); err == nil && len(entries) > 0 {
			i := entries[0].LogIndex()
			e.LogIndex = &i
		}
	}
	if !reflect.DeepEqual(e, verify.Evidence{}) {
		c.Evidence = &e
	}
	return c
}

// embeddedSCTExtension is the X.509 extension carrying a certificate's
// embedded signed certificate timestamps (RFC 6962, section 3.3).
var embeddedSCTExtension = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11129, 2, 4, 2}

// noSCTHint is added to the reason of a keyless check that failed while
// the rule requires an SCT (sct) and the certificate embeds none: the usual
// cause is a Fulcio without a CT log, and the reason should say what to do.
// It is empty otherwise; whether the SCT verifies is cosign's and
// sigstore-go's to say.
func noSCTHint(sct bool, cert *x509.Certificate) string {
	if !sct || cert == nil {
		return ""
	}
	for _, e := range cert.Extensions {
		if e.Id.Equal(embeddedSCTExtension) {
			return ""
		}
	}
	return " (the certificate embeds no SCT: its Fulcio submits to no CT log; verifySCT: false accepts such certificates)"
}

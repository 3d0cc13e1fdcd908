package cosign

import (
	"crypto/x509"
	"errors"
	"fmt"

	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/signet-dev/signet/internal/verify"
)

// enough reports whether trust root r needs no more valid signatures: a
// key root has one signer, its key, so one valid signature says all there
// is; a keyless root may be satisfied by several identities, and is tested
// until it has as many as the quorum has roots (verify.Tally.Saturated),
// so that the matching of signers to roots can pick any of them.
func (v *Verifier) enough(res *verify.Result, r active) bool {
	if r.Identity != nil {
		return r.tally.Saturated(res.Checks, r.Name)
	}
	return r.tally.Signers(res.Checks, r.Name) > 0
}

// signerOf names who made a signature valid for r: the key of a key root
// (verify.KeySigner), or the OIDC issuer and subject of the certificate of
// a keyless one, as sigstore-go reads them to match the identity. One
// person signing twice, or one signature two overlapping identities
// accept, is then one signer.
func (r active) signerOf(cert func() (*x509.Certificate, error)) (string, error) {
	if r.Identity == nil {
		if r.signer == "" {
			return "", errors.New("trust root has no key")
		}
		return r.signer, nil
	}
	c, err := cert()
	if err != nil {
		return "", fmt.Errorf("reading the signing certificate: %w", err)
	}
	if c == nil {
		return "", errors.New("no signing certificate")
	}
	return KeylessSigner(c)
}

// KeylessSigner names the signer of a Fulcio certificate by its OIDC
// issuer and subject alternative name.
func KeylessSigner(c *x509.Certificate) (string, error) {
	s, err := certificate.SummarizeCertificate(c)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("identity issuer=%q subject=%q", s.Issuer, s.SubjectAlternativeName), nil
}

// bundleCert returns the signing certificate of a Sigstore bundle.
func bundleCert(b *sgbundle.Bundle) (*x509.Certificate, error) {
	vc, err := b.VerificationContent()
	if err != nil {
		return nil, err
	}
	return vc.Certificate(), nil
}

// keySigner names the signer of a key root by its public key.
func keySigner(k signature.Verifier) (string, error) {
	pub, err := k.PublicKey()
	if err != nil {
		return "", err
	}
	return verify.KeySigner(pub)
}

package notation

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/notaryproject/notation-core-go/signature"
	notationgo "github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
)

// TestSignerOf: whatever the verification level logged instead of
// enforcing, an integrity or authenticity failure, or a revoked
// certificate, is never a signer; expiry, the timestamp and an unknown
// revocation status may be waived.
func TestSignerOf(t *testing.T) {
	t.Parallel()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	content := &signature.EnvelopeContent{SignerInfo: signature.SignerInfo{CertificateChain: []*x509.Certificate{{PublicKey: &k.PublicKey}}}}
	res := func(typ trustpolicy.ValidationType, err string) *notationgo.ValidationResult {
		r := &notationgo.ValidationResult{Type: typ, Action: trustpolicy.ActionLog}
		if err != "" {
			r.Error = errors.New(err)
		}
		return r
	}
	ok := []*notationgo.ValidationResult{res(trustpolicy.TypeIntegrity, ""), res(trustpolicy.TypeAuthenticity, "")}
	with := func(rs ...*notationgo.ValidationResult) []*notationgo.ValidationResult {
		return append(append([]*notationgo.ValidationResult{}, ok...), rs...)
	}
	tests := []struct {
		name    string
		results []*notationgo.ValidationResult
		content *signature.EnvelopeContent
		err     string
	}{
		{"all passed", ok, content, ""},
		{"untrusted CA logged", []*notationgo.ValidationResult{res(trustpolicy.TypeIntegrity, ""), res(trustpolicy.TypeAuthenticity, "signature is not produced by a trusted signer")}, content, "authenticity check failed"},
		{"integrity failure logged", []*notationgo.ValidationResult{res(trustpolicy.TypeIntegrity, "bad signature"), res(trustpolicy.TypeAuthenticity, "")}, content, "integrity check failed"},
		{"authenticity never ran", ok[:1], content, "authenticity check did not run"},
		{"nothing ran", nil, content, "did not run"},
		{"expired certificate logged", with(res(trustpolicy.TypeExpiry, "expired")), content, ""},
		{"timestamp logged", with(res(trustpolicy.TypeAuthenticTimestamp, "no timestamp")), content, ""},
		{"revocation unknown", with(res(trustpolicy.TypeRevocation, `signing certificate with subject "CN=a" revocation status is unknown`)), content, ""},
		{"revocation not checked", with(res(trustpolicy.TypeRevocation, "unable to check revocation status, err: offline")), content, ""},
		{"revoked", with(res(trustpolicy.TypeRevocation, `signing certificate with subject "CN=a" is revoked`)), content, "revocation check failed"},
		{"revoked, subject mimicking unknown", with(res(trustpolicy.TypeRevocation, `signing certificate with subject "CN=x revocation status is unknown" is revoked`)), content, "revocation check failed"},
		{"other revocation error", with(res(trustpolicy.TypeRevocation, "something new")), content, "revocation check failed"},
		{"no certificate", ok, &signature.EnvelopeContent{}, "no signing certificate"},
		{"no content", ok, nil, "no signing certificate"},
	}
	for _, tc := range tests {
		o := &notationgo.VerificationOutcome{VerificationLevel: trustpolicy.LevelAudit, VerificationResults: tc.results, EnvelopeContent: tc.content}
		s, err := signerOf(o, false)
		switch {
		case tc.err == "" && (err != nil || !strings.HasPrefix(s, "key sha256:")):
			t.Errorf("%s: signer %q, %v", tc.name, s, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
		}
	}
	if _, err := signerOf(nil, false); err == nil {
		t.Error("nil outcome: a signer")
	}
	if _, err := signerOf(&notationgo.VerificationOutcome{Error: errors.New("x"), VerificationResults: ok, EnvelopeContent: content}, false); err == nil {
		t.Error("outcome with an error: a signer")
	}
}

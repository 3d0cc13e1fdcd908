package keyless

import (
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

// testSCT proves verifySCT both ways with every format cosign signs in:
// the stack's Fulcio submits each certificate to the stack's CT log and
// embeds the signed certificate timestamp it gets back, so its signatures
// verify with verifySCT true (the default); a Fulcio without a CT log
// issues certificates without one, which chain to a trusted root all the
// same and are denied for the missing SCT unless the rule sets verifySCT
// false.
func testSCT(t *testing.T, s *harness.Sigstore) {
	noCT := s.StartFulcioWithoutCT(t)
	// The stack as seen through the Fulcio without CT: its certificates
	// (no CT log to check them with when signing), and a trusted root
	// naming both CAs and the CT log.
	old := *s
	old.FulcioURL, old.CTLogURL, old.TrustedRootFile = noCT.URL, "", noCT.TrustedRootFile
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			reg := f.registry(t)
			c := newCosign(t, s)
			withSCT := harness.Push(t, reg.Host, "demo/sct:with")
			f.sign(t, s, c, alice, withSCT, true)
			if err := f.verify(t, s, c, alice, withSCT, true); err != nil {
				t.Fatalf("cosign rejects the fixture (its SCT checked): %v", err)
			}
			withoutSCT := harness.Push(t, reg.Host, "demo/sct:without")
			f.sign(t, &old, c, alice, withoutSCT, true)

			for _, tc := range []struct {
				name    string
				stack   *harness.Sigstore
				img     string
				digest  string
				with    string
				code    int
				outcome verify.Outcome
				// reason is in the denial.
				reason string
			}{
				{"embedded SCT, verifySCT by default, is allowed", s, withSCT.String(), withSCT.DigestStr(), "", 0, verify.Verified, ""},
				{"embedded SCT, verifySCT true, is allowed", s, withSCT.String(), withSCT.DigestStr(), ", verifySCT: true", 0, verify.Verified, ""},
				{"embedded SCT, both Fulcios trusted, is allowed", &old, withSCT.String(), withSCT.DigestStr(), "", 0, verify.Verified, ""},
				{"no SCT, verifySCT by default, is denied", &old, withoutSCT.String(), withoutSCT.DigestStr(), "", 1, verify.Failed, "SCT"},
				{"no SCT, verifySCT true, is denied", &old, withoutSCT.String(), withoutSCT.DigestStr(), ", verifySCT: true", 1, verify.Failed, "SCT"},
				{"no SCT, verifySCT false, is allowed", &old, withoutSCT.String(), withoutSCT.DigestStr(), ", verifySCT: false", 0, verify.Verified, ""},
				{"no SCT from an untrusted CA is denied", s, withoutSCT.String(), withoutSCT.DigestStr(), ", verifySCT: false", 1, verify.Failed, ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					d := expect(t, keylessPolicy(tc.stack, exact(s, alice), tc.with), tc.img, tc.digest, tc.code, tc.outcome)
					if !strings.Contains(d.Reason+checkReasons(d.Checks), tc.reason) {
						t.Errorf("reason %q (checks %+v) does not mention %q", d.Reason, d.Checks, tc.reason)
					}
				})
			}
		})
	}
}

// checkReasons joins the reasons of a decision's checks.
func checkReasons(checks []verify.Check) string {
	var b strings.Builder
	for _, c := range checks {
		b.WriteString("; " + c.Reason)
	}
	return b.String()
}

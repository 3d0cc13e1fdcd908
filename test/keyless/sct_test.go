package keyless

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

// testSCT proves verifySCT both ways with every format cosign signs in:
// the stack's Fulcio submits each certificate to the stack's CT log and
// embeds the signed certificate timestamp it gets back, so its signatures
// verify with verifySCT true (the default) — against that CT log's key
// only; a Fulcio without a CT log issues certificates without one, which
// chain to a trusted root all the same and are denied for the missing SCT
// unless the rule sets verifySCT false.
func testSCT(t *testing.T, s *harness.Sigstore) {
	noCT := s.StartFulcioWithoutCT(t)
	// The stack as seen through the Fulcio without CT: its certificates
	// (no CT log to check them with when signing), and a trusted root
	// naming both CAs and the CT log.
	old := *s
	old.FulcioURL, old.CTLogURL, old.TrustedRootFile = noCT.URL, "", noCT.TrustedRootFile
	// The stack's trusted root without its CT log, and with another key
	// under the CT log's ID: an SCT counts only when a CT log of the
	// trusted root signed it.
	noCTLog, otherKey := *s, *s
	noCTLog.TrustedRootFile = editTrustedRoot(t, s, func(tr map[string]any) { delete(tr, "ctlogs") })
	otherKey.TrustedRootFile = editTrustedRoot(t, s, func(tr map[string]any) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			t.Fatal(err)
		}
		logs, _ := tr["ctlogs"].([]any)
		if len(logs) != 1 {
			t.Fatalf("trusted root has ctlogs %v, want one", tr["ctlogs"])
		}
		pub, _ := logs[0].(map[string]any)["publicKey"].(map[string]any)
		if pub == nil || pub["rawBytes"] == nil {
			t.Fatalf("CT log without publicKey.rawBytes: %v", logs[0])
		}
		pub["rawBytes"] = base64.StdEncoding.EncodeToString(der)
	})
	t.Run("attestations", func(t *testing.T) {
		t.Parallel()
		testSCTAttestations(t, s, &old)
	})
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
				{"no SCT, verifySCT by default, is denied", &old, withoutSCT.String(), withoutSCT.DigestStr(), "", 1, verify.Failed, noSCT},
				{"no SCT, verifySCT true, is denied", &old, withoutSCT.String(), withoutSCT.DigestStr(), ", verifySCT: true", 1, verify.Failed, noSCT},
				{"no SCT, verifySCT false, is allowed", &old, withoutSCT.String(), withoutSCT.DigestStr(), ", verifySCT: false", 0, verify.Verified, ""},
				{"no SCT from an untrusted CA is denied", s, withoutSCT.String(), withoutSCT.DigestStr(), ", verifySCT: false", 1, verify.Failed, ""},
				{"SCT from a CT log the trusted root lacks is denied", &noCTLog, withSCT.String(), withSCT.DigestStr(), "", 1, verify.Failed, "SCT"},
				{"SCT from a CT log the trusted root lacks, verifySCT false, is allowed", &noCTLog, withSCT.String(), withSCT.DigestStr(), ", verifySCT: false", 0, verify.Verified, ""},
				{"SCT not signed by the CT log's key is denied", &otherKey, withSCT.String(), withSCT.DigestStr(), "", 1, verify.Failed, "SCT"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					d := expect(t, keylessPolicy(tc.stack, exact(s, alice), tc.with), tc.img, tc.digest, tc.code, tc.outcome)
					if !strings.Contains(d.Reason+checkReasons(d.Checks), tc.reason) {
						t.Errorf("reason %q (checks %+v) does not mention %q", d.Reason, d.Checks, tc.reason)
					}
					if tc.img == withSCT.String() && strings.Contains(checkReasons(d.Checks), noSCT) {
						t.Errorf("checks %+v say %q of a certificate with an SCT", d.Checks, noSCT)
					}
				})
			}
		})
	}
}

// testSCTAttestations: keyless attestations by the real cosign v2 and v3
// are held to verifySCT like signatures. The image is signed through the
// Fulcio with CT and attested through old, the Fulcio without.
func testSCTAttestations(t *testing.T, s, old *harness.Sigstore) {
	for _, f := range attestFormats {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			reg := f.registry(t)
			c := newCosign(t, s)
			img := harness.Push(t, reg.Host, "demo/sct-attested:v1")
			f.sign(t, s, c, alice, img)
			attestKeyless(t, old, c, f.v3, alice, ciBuilder, img)
			requirement := `, attestations: [{name: provenance, type: slsaprovenance1}]`
			for _, tc := range []struct {
				name    string
				with    string
				code    int
				outcome verify.Outcome
			}{
				{"verifySCT by default: the attestation without SCT is denied", requirement, 1, verify.Failed},
				{"verifySCT false: the attestation without SCT is allowed", requirement + ", verifySCT: false", 0, verify.Verified},
			} {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					p := keylessPolicy(old, exact(s, alice), tc.with)
					code, ds, se := signet(t, p, img.String())
					if code != tc.code || len(ds) != 1 || ds[0].Outcome != tc.outcome || len(ds[0].Attestations) != 1 {
						t.Fatalf("exit %d, want %d; %+v\nstderr: %s\npolicy:\n%s", code, tc.code, ds, se, p)
					}
					if a := ds[0].Attestations[0]; tc.code != 0 && !strings.Contains(fmt.Sprintf("%+v", a), noSCT) {
						t.Errorf("attestation result %+v does not say %q", a, noSCT)
					}
				})
			}
		})
	}
}

// editTrustedRoot writes a copy of the stack's trusted root changed by edit
// and returns its path.
func editTrustedRoot(t *testing.T, s *harness.Sigstore, edit func(map[string]any)) string {
	t.Helper()
	var tr map[string]any
	if err := json.Unmarshal(s.TrustedRoot, &tr); err != nil {
		t.Fatal(err)
	}
	edit(tr)
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "trusted-root.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// noSCT is what a check says of a certificate without an embedded SCT
// under a rule requiring one.
const noSCT = "the certificate embeds no SCT: its Fulcio submits to no CT log; verifySCT: false accepts such certificates"

// checkReasons joins the reasons of a decision's checks.
func checkReasons(checks []verify.Check) string {
	var b strings.Builder
	for _, c := range checks {
		b.WriteString("; " + c.Reason)
	}
	return b.String()
}

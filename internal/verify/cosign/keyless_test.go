package cosign_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore-go/pkg/root"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
)

const (
	alice  = "alice@example.test"
	bob    = "bob@example.test"
	issuer = "https://issuer.example.test"
)

// TestKeyless verifies keyless signatures made by an in-memory Sigstore
// (real Fulcio-style certificates, Rekor entries and signed entry
// timestamps from sigstore-go's VirtualSigstore).
func TestKeyless(t *testing.T) {
	t.Parallel()
	ss, err := fixture.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	tr := trustedRoot(t, ss.TrustedRootJSON)
	other, err := fixture.NewSigstore() // another instance: its CA is not trusted
	if err != nil {
		t.Fatal(err)
	}
	legacy := func(s *fixture.Sigstore, id, iss string, o fixture.KeylessOptions) func(*testing.T, name.Digest) {
		return func(t *testing.T, img name.Digest) {
			if err := s.SignLegacyKeyless(img, id, iss, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	bundle := func(s *fixture.Sigstore, id, iss string, o ...fixture.KeylessOptions) func(*testing.T, name.Digest) {
		return func(t *testing.T, img name.Digest) {
			if _, err := s.AttachKeylessBundle(img, id, iss, fixture.Statement(img, cosign.SignPredicateType), append(o, fixture.KeylessOptions{})[0]); err != nil {
				t.Fatal(err)
			}
		}
	}
	exact := cosign.Identity{Issuer: issuer, Subject: alice}
	tests := []struct {
		name    string
		id      cosign.Identity
		noTlog  bool // verifyInTransparencyLog: false
		sct     bool // verifySCT (the virtual Fulcio embeds no SCTs)
		setup   func(*testing.T, name.Digest)
		want    verify.Outcome
		wantIn  string
		checkIn string // substring of some check's reason
	}{
		{name: "legacy identity match", id: exact, setup: legacy(ss, alice, issuer, fixture.KeylessOptions{}), want: verify.Verified},
		{name: "legacy other subject", id: exact, setup: legacy(ss, bob, issuer, fixture.KeylessOptions{}), want: verify.Failed, checkIn: "none of the expected identities matched"},
		{name: "legacy other issuer", id: exact, setup: legacy(ss, alice, "https://evil.example.test", fixture.KeylessOptions{}), want: verify.Failed},
		{name: "legacy subject regex", id: cosign.Identity{IssuerRegex: `^https://issuer\.example\.test$`, SubjectRegex: `@example\.test$`},
			setup: legacy(ss, bob, issuer, fixture.KeylessOptions{}), want: verify.Verified},
		{name: "legacy subject regex no match", id: cosign.Identity{Issuer: issuer, SubjectRegex: `^alice@`},
			setup: legacy(ss, bob, issuer, fixture.KeylessOptions{}), want: verify.Failed},
		{name: "legacy untrusted CA", id: exact, setup: legacy(other, alice, issuer, fixture.KeylessOptions{}), want: verify.Failed},
		{name: "legacy tampered tlog entry", id: exact, setup: legacy(ss, alice, issuer, fixture.KeylessOptions{TamperTlog: true}), want: verify.Failed},
		{name: "legacy without tlog entry", id: exact, setup: legacy(ss, alice, issuer, fixture.KeylessOptions{NoTlog: true}), want: verify.Failed, checkIn: "no transparency log entry"},
		{name: "legacy without tlog entry, tlog waived", id: exact, noTlog: true, setup: legacy(ss, alice, issuer, fixture.KeylessOptions{NoTlog: true}), want: verify.Verified},
		{name: "legacy with a tampered tlog entry, tlog waived", id: exact, noTlog: true, setup: legacy(ss, alice, issuer, fixture.KeylessOptions{TamperTlog: true}), want: verify.Failed, checkIn: "verifying bundle"},
		{name: "legacy with a tampered tlog entry and a TSA timestamp, tlog waived", id: exact, noTlog: true, setup: legacy(ss, alice, issuer, fixture.KeylessOptions{TamperTlog: true, TSA: true}), want: verify.Failed, checkIn: "verifying bundle"},
		{name: "legacy with a logged signature, tlog waived", id: exact, noTlog: true, setup: legacy(ss, alice, issuer, fixture.KeylessOptions{}), want: verify.Verified},
		{name: "legacy TSA timestamp instead of tlog entry", id: exact, noTlog: true, setup: legacy(ss, alice, issuer, fixture.KeylessOptions{NoTlog: true, TSA: true}), want: verify.Verified},
		{name: "legacy TSA timestamp from an untrusted TSA", id: exact, noTlog: true, setup: legacy(other, alice, issuer, fixture.KeylessOptions{NoTlog: true, TSA: true}), want: verify.Failed},
		{name: "legacy TSA timestamp and tlog entry", id: exact, setup: legacy(ss, alice, issuer, fixture.KeylessOptions{TSA: true}), want: verify.Verified},
		{name: "legacy SCT required but absent", id: exact, sct: true, setup: legacy(ss, alice, issuer, fixture.KeylessOptions{}), want: verify.Failed, checkIn: "the certificate embeds no SCT"},
		{name: "bundle SCT required but absent", id: exact, sct: true, setup: bundle(ss, alice, issuer), want: verify.Failed, checkIn: "the certificate embeds no SCT"},
		{name: "legacy other subject, SCT required but absent", id: cosign.Identity{Issuer: issuer, Subject: bob}, sct: true, setup: legacy(ss, alice, issuer, fixture.KeylessOptions{}), want: verify.Failed, checkIn: "verifySCT: false accepts"},
		{name: "bundle identity match", id: exact, setup: bundle(ss, alice, issuer), want: verify.Verified},
		{name: "bundle other subject", id: exact, setup: bundle(ss, bob, issuer), want: verify.Failed, checkIn: "bundle does not verify for this identity"},
		{name: "bundle tampered tlog entry", id: exact, setup: bundle(ss, alice, issuer, fixture.KeylessOptions{TamperTlog: true}), want: verify.Failed},
		{name: "bundle without tlog entry", id: exact, setup: bundle(ss, alice, issuer, fixture.KeylessOptions{NoTlog: true, TSA: true}), want: verify.Failed},
		{name: "bundle TSA timestamp instead of tlog entry, tlog waived", id: exact, noTlog: true, setup: bundle(ss, alice, issuer, fixture.KeylessOptions{NoTlog: true, TSA: true}), want: verify.Verified},
		{name: "bundle without tlog entry or timestamp, tlog waived: certificate valid now", id: exact, noTlog: true, setup: bundle(ss, alice, issuer, fixture.KeylessOptions{NoTlog: true}), want: verify.Verified},
		{name: "bundle with a tampered tlog entry, tlog waived", id: exact, noTlog: true, setup: bundle(ss, alice, issuer, fixture.KeylessOptions{TamperTlog: true}), want: verify.Failed},
		{name: "bundle with a logged signature, tlog waived", id: exact, noTlog: true, setup: bundle(ss, alice, issuer), want: verify.Verified},
		{name: "bundle untrusted CA", id: exact, setup: bundle(other, alice, issuer), want: verify.Failed},
		{name: "unsigned", id: exact, setup: func(*testing.T, name.Digest) {}, want: verify.Failed, wantIn: "no cosign signatures"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := testutil.NewRegistry(t, true)
			img := reg.PushImage(t, "demo/app:v1")
			tc.setup(t, img)
			id := tc.id
			v, err := cosign.New(registry.MustNew(registry.WithInsecureRegistries(reg.Host)), []cosign.TrustRoot{{Name: "ci", Identity: &id}},
				verify.Quorum{Roots: []string{"ci"}, Threshold: 1},
				cosign.Options{Material: cosign.StaticMaterial{TM: tr}, TLog: !tc.noTlog, SCT: tc.sct})
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(context.Background(), verify.Image{Ref: img})
			if got := verify.Classify(err); got != tc.want {
				t.Fatalf("outcome = %s, want %s (err: %v; checks: %+v)", got, tc.want, err, res.Checks)
			}
			if tc.wantIn != "" && (err == nil || !strings.Contains(err.Error(), tc.wantIn)) {
				t.Errorf("error %q does not contain %q", err, tc.wantIn)
			}
			if tc.checkIn != "" {
				found := false
				for _, c := range res.Checks {
					found = found || strings.Contains(c.Reason, tc.checkIn)
				}
				if !found {
					t.Errorf("no check mentions %q: %+v", tc.checkIn, res.Checks)
				}
			}
		})
	}
}

// TestKeylessNoMaterial: an unreachable TUF repository makes keyless
// verification inconclusive, quickly, and never verified.
func TestKeylessNoMaterial(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	img := reg.PushImage(t, "demo/app:v1")
	m := cosign.TUFMaterial("http://127.0.0.1:1", nil)
	v, err := cosign.New(registry.MustNew(registry.WithInsecureRegistries(reg.Host)), []cosign.TrustRoot{{Name: "ci", Identity: &cosign.Identity{Issuer: issuer, Subject: alice}}},
		verify.Quorum{Roots: []string{"ci"}, Threshold: 1}, cosign.Options{Material: m, TLog: true, SCT: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 { // the second answer comes from the remembered failure
		_, err = v.Verify(context.Background(), verify.Image{Ref: img})
		if got := verify.Classify(err); got != verify.Inconclusive {
			t.Fatalf("attempt %d: outcome = %s, want inconclusive (err: %v)", i, got, err)
		}
		if !strings.Contains(err.Error(), "TUF repository http://127.0.0.1:1") {
			t.Errorf("error %q does not name the TUF repository", err)
		}
	}
}

// TestKeylessChainValidAtSigningTime: a certificate chain must be valid
// at the time the signature is dated, intermediates included. cosign v2
// checks the chain at the leaf's notBefore and only the leaf at the
// signing time (GO-2026-4529), so with the transparency log waived it
// would accept a certificate whose intermediate has since expired.
func TestKeylessChainValidAtSigningTime(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, tc := range []struct {
		name        string
		interExpiry time.Time
		want        verify.Outcome
	}{
		{"intermediate valid now", now.Add(time.Hour), verify.Verified},
		{"intermediate expired after the leaf was issued", now.Add(-time.Minute), verify.Failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := fixture.NewCA(now.Add(-2*time.Hour), tc.interExpiry)
			if err != nil {
				t.Fatal(err)
			}
			tr := trustedRoot(t, c.TrustedRootJSON)
			reg := testutil.NewRegistry(t, false)
			img := reg.PushImage(t, "demo/app:v1")
			// Issued five minutes ago, valid for ten: valid now.
			if err := c.SignLegacy(img, alice, issuer, now.Add(-5*time.Minute)); err != nil {
				t.Fatal(err)
			}
			v, err := cosign.New(registry.MustNew(registry.WithInsecureRegistries(reg.Host)), []cosign.TrustRoot{{Name: "ci", Identity: &cosign.Identity{Issuer: issuer, Subject: alice}}},
				verify.Quorum{Roots: []string{"ci"}, Threshold: 1},
				cosign.Options{Material: cosign.StaticMaterial{TM: tr}, TLog: false, SCT: false})
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(context.Background(), verify.Image{Ref: img})
			if got := verify.Classify(err); got != tc.want {
				t.Fatalf("outcome = %s, want %s (err: %v; checks: %+v)", got, tc.want, err, res.Checks)
			}
			if tc.want == verify.Failed && (len(res.Checks) != 1 || !strings.Contains(res.Checks[0].Reason, "not valid at the signing time")) {
				t.Errorf("checks %+v do not say the chain was invalid at the signing time", res.Checks)
			}
		})
	}
}

// trustedRoot parses the trusted_root.json a fixture makes.
func trustedRoot(t *testing.T, gen func() ([]byte, error)) *root.TrustedRoot {
	t.Helper()
	b, err := gen()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cosign.ParseTrustedRoot(b)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

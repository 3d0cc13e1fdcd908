package notation_test

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/notation"
)

// TestTrustedIdentities: one CA, two leaves (CN=release, CN=dev); a trust
// root pinning the release subject admits only the release signature, by
// notation-go's x509.subject matching rules.
func TestTrustedIdentities(t *testing.T) {
	t.Parallel()
	now := time.Now()
	release := newPKI(t, "release", now.Add(-time.Hour), now.Add(time.Hour))
	dev := release.issue(t, "dev", now.Add(-time.Hour), now.Add(time.Hour))
	const base = "C=DE, ST=Bavaria, L=Munich, O=signet tests, CN="
	tests := []struct {
		name  string
		ids   []string
		store string
		sign  *pki
		want  verify.Outcome
		has   string
	}{
		{"default *, release", nil, "", release, verify.Verified, ""},
		{"default *, dev", nil, "", dev, verify.Verified, ""},
		{"pinned release, release", []string{"x509.subject: " + base + "release"}, "", release, verify.Verified, ""},
		{"pinned release, dev", []string{"x509.subject: " + base + "release"}, "", dev, verify.Failed, "signing certificate CN=dev,O=signet tests"},
		{"pinned subset of the subject", []string{"x509.subject: O=signet tests, CN=release, C=DE, ST=Bavaria, L=Munich"}, "", release, verify.Verified, ""},
		{"two identities", []string{"x509.subject: " + base + "release", "x509.subject: " + base + "dev"}, "", dev, verify.Verified, ""},
		{"signingAuthority store, notary.x509 signature", nil, notation.StoreSigningAuthority, release, verify.Failed, "no trusted certificates"},
		{"signingService store", nil, notation.StoreSigningService, release, verify.Verified, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := testutil.NewRegistry(t, true)
			img := reg.PushImage(t, "demo/app:v1")
			tc.sign.sign(t, img, img, notation.MediaTypeJWS)
			v, err := notation.New(registry.MustNew(registry.WithInsecureRegistries(reg.Host)),
				[]notation.TrustRoot{{Name: "release", CAs: []*x509.Certificate{release.ca}, Identities: tc.ids, Store: tc.store}},
				verify.Quorum{Roots: []string{"release"}, Threshold: 1}, notation.Options{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(context.Background(), verify.Image{Ref: img})
			if got := verify.Classify(err); got != tc.want {
				t.Fatalf("outcome %s, want %s: %v; checks %+v", got, tc.want, err, res.Checks)
			}
			all := ""
			for _, c := range res.Checks {
				all += " " + c.Reason
			}
			if !strings.Contains(all, tc.has) {
				t.Errorf("%q not in %q", tc.has, all)
			}
		})
	}
}

func TestCheckTrustedIdentities(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ids  []string
		want string // "" when valid
	}{
		{[]string{"*"}, ""},
		{[]string{"x509.subject: C=US, ST=WA, O=Acme, CN=release"}, ""},
		{[]string{"x509.subject: C=US, ST=WA, O=Acme, CN=release", "x509.subject: C=US, ST=WA, O=Acme, CN=dev"}, ""},
		{[]string{"*", "x509.subject: C=US, ST=WA, O=Acme, CN=release"}, "wildcard"},
		{[]string{"x509.subject: not a dn"}, "invalid identity value"},
		{[]string{"x509.subject:"}, "without an identity value"},
		{[]string{"CN=release"}, "missing separator"},
		{[]string{"x509.subject: C=US, ST=WA, O=Acme", "x509.subject: C=US, ST=WA, O=Acme, CN=dev"}, "overlapping"},
		{[]string{"x509.san: example.com"}, "only x509.subject"},
		{[]string{""}, "empty trusted identity"},
	}
	for _, tc := range tests {
		err := notation.CheckTrustedIdentities(tc.ids)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckTrustedIdentities(%q) = %v, want %q", tc.ids, err, tc.want)
		}
	}
}

func TestCheckOverride(t *testing.T) {
	t.Parallel()
	tests := []struct {
		o    map[string]string
		want string
	}{
		{map[string]string{"expiry": "log", "authenticTimestamp": "skip"}, ""},
		{map[string]string{"authenticity": "enforce"}, ""},
		{map[string]string{"integrity": "log"}, "cannot be overridden"},
		{map[string]string{"authenticity": "log"}, "only \"enforce\""},
		{map[string]string{"revocation": "log"}, "revocationValidations"},
		{map[string]string{"expiry": "warn"}, "must be"},
		{map[string]string{"age": "log"}, "unknown validation"},
	}
	for _, tc := range tests {
		err := notation.CheckOverride(tc.o)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckOverride(%v) = %v, want %q", tc.o, err, tc.want)
		}
	}
}

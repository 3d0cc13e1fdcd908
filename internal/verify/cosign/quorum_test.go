package cosign_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
)

// resolved is a key held elsewhere (a Secret, a KMS key): known only when
// a verification needs it.
type resolved struct{ v signature.Verifier }

func (r resolved) Verifier(context.Context) (signature.Verifier, error) { return r.v, nil }
func (r resolved) String() string                                       { return "k8s://test/key" }

func parseKey(t *testing.T, k *testutil.Key) signature.Verifier {
	t.Helper()
	v, err := cosign.ParsePublicKey([]byte(k.PEM))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestOneSignerOneVote: threshold 2 is never met by one signer, however
// many trust roots accept it — the same key under two names (inline, or
// resolved at verification time as a Secret or KMS key would be), or a
// keyless identity that two overlapping identities both match — nor by
// one signer signing twice. Two distinct signers meet it. Signatures are
// real cosign signatures (legacy and Sigstore bundles) made by
// internal/fixture.
func TestOneSignerOneVote(t *testing.T) {
	t.Parallel()
	k1, k2 := testutil.NewKey(t), testutil.NewKey(t)
	ss, err := fixture.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	tm := cosign.StaticMaterial{TM: trustedRoot(t, ss.TrustedRootJSON)}
	sameKey := []cosign.TrustRoot{{Name: "a", Key: parseKey(t, k1)}, {Name: "b", Key: parseKey(t, k1)}, {Name: "c", Key: parseKey(t, k2)}}
	sameKeyLater := []cosign.TrustRoot{{Name: "a", Key: parseKey(t, k1)}, {Name: "b", KeyRef: resolved{parseKey(t, k1)}}, {Name: "c", KeyRef: resolved{parseKey(t, k2)}}}
	overlapping := []cosign.TrustRoot{
		{Name: "a", Identity: &cosign.Identity{Issuer: issuer, SubjectRegex: `@example\.test$`}},
		{Name: "b", Identity: &cosign.Identity{Issuer: issuer, Subject: alice}},
	}
	legacyKey := func(k *testutil.Key) func(*testing.T, name.Digest) {
		return func(t *testing.T, img name.Digest) { testutil.SignLegacy(t, img, k) }
	}
	bundleKey := func(k *testutil.Key) func(*testing.T, name.Digest) {
		return func(t *testing.T, img name.Digest) {
			testutil.AttachBundle(t, img, k, testutil.Statement(img, cosign.SignPredicateType))
		}
	}
	legacyID := func(id string) func(*testing.T, name.Digest) {
		return func(t *testing.T, img name.Digest) {
			if err := ss.SignLegacyKeyless(img, id, issuer, fixture.KeylessOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	bundleID := func(id string) func(*testing.T, name.Digest) {
		return func(t *testing.T, img name.Digest) {
			if _, err := ss.AttachKeylessBundle(img, id, issuer, fixture.Statement(img, cosign.SignPredicateType), fixture.KeylessOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name     string
		roots    []cosign.TrustRoot
		quorum   []string
		required []string
		sign     []func(*testing.T, name.Digest)
		want     verify.Outcome
		signers  string
	}{
		{"same key under two names", sameKey, []string{"a", "b"}, nil, sig(legacyKey(k1)), verify.Failed, ""},
		{"same key under two names, signed twice", sameKey, []string{"a", "b"}, nil, sig(legacyKey(k1), legacyKey(k1)), verify.Failed, ""},
		{"same key under two names, legacy and bundle", sameKey, []string{"a", "b"}, nil, sig(legacyKey(k1), bundleKey(k1)), verify.Failed, ""},
		{"same key, both required", sameKey, []string{"a", "b", "c"}, []string{"a", "b"}, sig(legacyKey(k1), legacyKey(k2)), verify.Failed, ""},
		{"same key under two names, two keys", sameKey, []string{"a", "b", "c"}, nil, sig(legacyKey(k1), legacyKey(k2)), verify.Verified, "a,c"},
		{"same key resolved at verification", sameKeyLater, []string{"a", "b"}, nil, sig(legacyKey(k1), bundleKey(k1)), verify.Failed, ""},
		{"same key resolved at verification, two keys", sameKeyLater, []string{"a", "b", "c"}, nil, sig(bundleKey(k1), legacyKey(k2)), verify.Verified, "a,c"},
		{"overlapping identities", overlapping, []string{"a", "b"}, nil, sig(legacyID(alice)), verify.Failed, ""},
		{"overlapping identities, bundle", overlapping, []string{"a", "b"}, nil, sig(bundleID(alice)), verify.Failed, ""},
		{"overlapping identities, one person signing thrice", overlapping, []string{"a", "b"}, nil, sig(legacyID(alice), legacyID(alice), bundleID(alice)), verify.Failed, ""},
		{"overlapping identities, two people", overlapping, []string{"a", "b"}, nil, sig(legacyID(alice), legacyID(bob)), verify.Verified, "a,b"},
		{"overlapping identities, two people, bundles", overlapping, []string{"a", "b"}, nil, sig(bundleID(alice), bundleID(bob)), verify.Verified, "a,b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := testutil.NewRegistry(t, true)
			img := reg.PushImage(t, "demo/app:v1")
			for _, s := range tc.sign {
				s(t, img)
			}
			q := verify.Quorum{Roots: tc.quorum, Threshold: 2, Required: tc.required}
			v, err := cosign.New(registry.MustNew(registry.WithInsecureRegistries(reg.Host)), tc.roots, q, cosign.Options{Material: tm, TLog: true})
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(context.Background(), verify.Image{Ref: img})
			if got := verify.Classify(err); got != tc.want {
				t.Fatalf("outcome = %s, want %s (err: %v; checks: %+v)", got, tc.want, err, res.Checks)
			}
			if tc.want == verify.Failed && !strings.Contains(err.Error(), "distinct signer") {
				t.Errorf("error %q does not explain that signers must be distinct", err)
			}
			if tc.want == verify.Verified && strings.Join(res.Signers, ",") != tc.signers {
				t.Errorf("signers = %v, want %s", res.Signers, tc.signers)
			}
			for _, c := range res.Checks {
				if c.Passed && c.Signer == "" {
					t.Errorf("passed check without a signer: %+v", c)
				}
			}
		})
	}
}

func sig(fs ...func(*testing.T, name.Digest)) []func(*testing.T, name.Digest) { return fs }

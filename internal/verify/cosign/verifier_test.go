package cosign_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
)

func newVerifier(t *testing.T, reg *testutil.Registry, keys []*testutil.Key, q verify.Quorum) *cosign.Verifier {
	t.Helper()
	var roots []cosign.TrustRoot
	all := q.Roots == nil
	for i, k := range keys {
		v, err := cosign.ParsePublicKey([]byte(k.PEM))
		if err != nil {
			t.Fatal(err)
		}
		n := fmt.Sprintf("k%d", i+1)
		roots = append(roots, cosign.TrustRoot{Name: n, Key: v})
		if all {
			q.Roots = append(q.Roots, n)
		}
	}
	q.Threshold = max(q.Threshold, 1)
	v, err := cosign.New(registry.MustNew(registry.WithInsecureRegistries(reg.Host)), roots, q, cosign.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerify(t *testing.T) {
	t.Parallel()
	k1, k2, k3 := testutil.NewKey(t), testutil.NewKey(t), testutil.NewKey(t)
	type setup func(t *testing.T, reg *testutil.Registry, img name.Digest)
	tests := []struct {
		name      string
		referrers bool
		keys      []*testutil.Key // trust roots k1..kn
		roots     []string        // quorum roots; default all
		threshold int
		required  []string
		setup     setup
		want      verify.Outcome
		wantIn    string // substring of the error
		signers   []string
	}{
		{name: "legacy signed", keys: []*testutil.Key{k1}, want: verify.Verified, signers: []string{"k1"},
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) { testutil.SignLegacy(t, img, k1) }},
		{name: "unsigned", keys: []*testutil.Key{k1}, want: verify.Failed, wantIn: "no cosign signatures found",
			setup: func(*testing.T, *testutil.Registry, name.Digest) {}},
		{name: "wrong key", keys: []*testutil.Key{k1}, want: verify.Failed, wantIn: "0 of 1 required",
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) { testutil.SignLegacy(t, img, k2) }},
		{name: "signature copied from another image", keys: []*testutil.Key{k1}, want: verify.Failed, wantIn: "0 of 1",
			setup: func(t *testing.T, reg *testutil.Registry, img name.Digest) {
				other := reg.PushImage(t, "demo/other:v1")
				p := testutil.Payload(other.Context().Name(), other.DigestStr())
				testutil.AppendLegacy(t, img, p, k1.Sign(t, p))
			}},
		{name: "tampered payload", keys: []*testutil.Key{k1}, want: verify.Failed,
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				p := testutil.Payload(img.Context().Name(), img.DigestStr())
				sig := k1.Sign(t, p)
				p = []byte(strings.Replace(string(p), "cosign container image signature", "cosign container image signaturE", 1))
				testutil.AppendLegacy(t, img, p, sig)
			}},
		{name: "tampered signature", keys: []*testutil.Key{k1}, want: verify.Failed,
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				p := testutil.Payload(img.Context().Name(), img.DigestStr())
				sig := k1.Sign(t, p)
				sig[len(sig)-1] ^= 1
				testutil.AppendLegacy(t, img, p, sig)
			}},
		{name: "bundle via referrers API", referrers: true, keys: []*testutil.Key{k1}, want: verify.Verified, signers: []string{"k1"},
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				testutil.AttachBundle(t, img, k1, testutil.Statement(img, cosign.SignPredicateType))
			}},
		{name: "bundle via referrers tag schema", keys: []*testutil.Key{k1}, want: verify.Verified, signers: []string{"k1"},
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				testutil.AttachBundle(t, img, k1, testutil.Statement(img, cosign.SignPredicateType))
			}},
		{name: "bundle by another key", referrers: true, keys: []*testutil.Key{k1}, want: verify.Failed, wantIn: "1 signature(s) found",
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				testutil.AttachBundle(t, img, k2, testutil.Statement(img, cosign.SignPredicateType))
			}},
		{name: "bundle is an attestation, not a signature", referrers: true, keys: []*testutil.Key{k1}, want: verify.Failed,
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				testutil.AttachBundle(t, img, k1, testutil.Statement(img, "https://slsa.dev/provenance/v1"))
			}},
		{name: "bundle names another digest", referrers: true, keys: []*testutil.Key{k1}, want: verify.Failed,
			setup: func(t *testing.T, reg *testutil.Registry, img name.Digest) {
				other := reg.PushImage(t, "demo/other:v1")
				testutil.AttachBundle(t, img, k1, testutil.Statement(other, cosign.SignPredicateType))
			}},
		{name: "non-bundle referrer is ignored", referrers: true, keys: []*testutil.Key{k1}, want: verify.Failed, wantIn: "no cosign signatures",
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				testutil.AttachReferrer(t, img, "application/vnd.example.sbom", "application/json", []byte(`{}`))
			}},
		{name: "threshold 2 with one signer", keys: []*testutil.Key{k1, k2, k3}, threshold: 2, want: verify.Failed, wantIn: "1 of 2 required",
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) { testutil.SignLegacy(t, img, k1) }},
		{name: "threshold 2 with two signers", keys: []*testutil.Key{k1, k2, k3}, threshold: 2, want: verify.Verified, signers: []string{"k1", "k3"},
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				testutil.SignLegacy(t, img, k1)
				testutil.SignLegacy(t, img, k3)
			}},
		{name: "same signer twice counts once", keys: []*testutil.Key{k1, k2}, threshold: 2, want: verify.Failed,
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				testutil.SignLegacy(t, img, k1)
				testutil.SignLegacy(t, img, k1)
			}},
		{name: "legacy and bundle signers combine", referrers: true, keys: []*testutil.Key{k1, k2}, threshold: 2, want: verify.Verified, signers: []string{"k1", "k2"},
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) {
				testutil.SignLegacy(t, img, k1)
				testutil.AttachBundle(t, img, k2, testutil.Statement(img, cosign.SignPredicateType))
			}},
		{name: "required signer missing", keys: []*testutil.Key{k1, k2}, required: []string{"k2"}, want: verify.Failed, wantIn: "required trust roots [k2]",
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) { testutil.SignLegacy(t, img, k1) }},
		{name: "required signer present", keys: []*testutil.Key{k1, k2}, required: []string{"k2"}, want: verify.Verified, signers: []string{"k2"},
			setup: func(t *testing.T, _ *testutil.Registry, img name.Digest) { testutil.SignLegacy(t, img, k2) }},
		{name: "registry down", keys: []*testutil.Key{k1}, want: verify.Inconclusive, wantIn: "HTTP 503",
			setup: func(t *testing.T, reg *testutil.Registry, img name.Digest) {
				testutil.SignLegacy(t, img, k1)
				reg.SetDown(true)
			}},
		{name: "registry gone", keys: []*testutil.Key{k1}, want: verify.Inconclusive, wantIn: "unreachable",
			setup: func(t *testing.T, reg *testutil.Registry, img name.Digest) {
				testutil.SignLegacy(t, img, k1)
				reg.Close()
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := testutil.NewRegistry(t, tc.referrers)
			img := reg.PushImage(t, "demo/app:v1")
			tc.setup(t, reg, img)
			v := newVerifier(t, reg, tc.keys, verify.Quorum{Roots: tc.roots, Threshold: tc.threshold, Required: tc.required})
			res, err := v.Verify(context.Background(), verify.Image{Ref: img})
			if got := verify.Classify(err); got != tc.want {
				t.Fatalf("outcome = %s, want %s (err: %v; checks: %+v)", got, tc.want, err, res.Checks)
			}
			if tc.wantIn != "" && (err == nil || !strings.Contains(err.Error(), tc.wantIn)) {
				t.Errorf("error %q does not contain %q", err, tc.wantIn)
			}
			if tc.want == verify.Verified && strings.Join(res.Signers, ",") != strings.Join(tc.signers, ",") {
				t.Errorf("signers = %v, want %v", res.Signers, tc.signers)
			}
			if tc.want != verify.Verified {
				var fe *verify.FailedError
				var ie *verify.InconclusiveError
				if !errors.As(err, &fe) && !errors.As(err, &ie) {
					t.Errorf("error %T is neither failed nor inconclusive", err)
				}
			}
		})
	}
}

// TestFetchOnce checks that signatures are fetched once per image whatever
// the number of trust roots: ten keys cost exactly the requests of one.
func TestFetchOnce(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, true)
	signer := testutil.NewKey(t)
	img := reg.PushImage(t, "demo/app:v1")
	testutil.SignLegacy(t, img, signer)

	count := func(n int) int64 {
		keys := []*testutil.Key{}
		for range n - 1 {
			keys = append(keys, testutil.NewKey(t))
		}
		keys = append(keys, signer) // the valid one is tried last
		v := newVerifier(t, reg, keys, verify.Quorum{})
		reg.Reset()
		if _, err := v.Verify(context.Background(), verify.Image{Ref: img}); err != nil {
			t.Fatalf("%d roots: %v", n, err)
		}
		return reg.Requests()
	}
	one, ten := count(1), count(10)
	if one != ten {
		t.Errorf("requests with 1 trust root = %d, with 10 = %d; want equal", one, ten)
	}
	// /v2/ ping, .sig manifest, one payload blob.
	if one > 3 {
		t.Errorf("requests for one legacy signature = %d, want <= 3; paths: %v", one, reg.Paths())
	}
}

package cosign_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
)

// TestVerifyReference checks with.verifyReference: a signature made for
// one repository does not verify the same digest in another.
func TestVerifyReference(t *testing.T) {
	t.Parallel()
	k1 := testutil.NewKey(t)
	signedFor := func(repo string) func(*testing.T, name.Digest) {
		return func(t *testing.T, img name.Digest) {
			p := testutil.Payload(repo, img.DigestStr())
			testutil.AppendLegacy(t, img, p, k1.Sign(t, p))
		}
	}
	statement := func(subjectName string) func(*testing.T, name.Digest) {
		return func(t *testing.T, img name.Digest) {
			st := strings.Replace(string(testutil.Statement(img, cosign.SignPredicateType)), `"name":"`+img.Context().Name()+`"`, `"name":"`+subjectName+`"`, 1)
			testutil.AttachBundle(t, img, k1, []byte(st))
		}
	}
	debugShell := func(img name.Digest) string { return img.Context().RegistryStr() + "/dev/debug-shell" }
	legacy := func(t *testing.T, img name.Digest) { testutil.SignLegacy(t, img, k1) }
	tests := []struct {
		name    string
		check   *cosign.ReferenceCheck // nil: verifyReference off
		copied  bool                   // signed as dev/debug-shell, copied with its signature to prod/app
		sign    func(*testing.T, name.Digest)
		want    verify.Outcome
		checkIn string
	}{
		{name: "copied signature, check off (cosign's default)", copied: true, want: verify.Verified},
		{name: "copied signature", copied: true, check: &cosign.ReferenceCheck{}, want: verify.Failed, checkIn: "/dev/debug-shell, not "},
		{name: "copied signature, upstream accepted", copied: true, want: verify.Verified,
			check: &cosign.ReferenceCheck{Accept: func(r string) bool { return strings.HasSuffix(r, "/dev/debug-shell") }}},
		{name: "signature for this repository", check: &cosign.ReferenceCheck{}, want: verify.Verified, sign: legacy},
		{name: "signature naming this repository with a tag", check: &cosign.ReferenceCheck{}, want: verify.Verified,
			sign: func(t *testing.T, img name.Digest) { signedFor(img.Context().Name()+":v1")(t, img) }},
		{name: "signature naming another repository", check: &cosign.ReferenceCheck{}, want: verify.Failed, checkIn: "(verifyReference)",
			sign: func(t *testing.T, img name.Digest) { signedFor(debugShell(img))(t, img) }},
		{name: "signature naming another registry", check: &cosign.ReferenceCheck{}, want: verify.Failed, checkIn: "(verifyReference)",
			sign: signedFor("registry.example/prod/app")},
		{name: "signature naming no repository", check: &cosign.ReferenceCheck{}, want: verify.Failed, checkIn: "names no repository", sign: signedFor("")},
		{name: "signature naming garbage", check: &cosign.ReferenceCheck{}, want: verify.Failed, checkIn: "invalid image reference", sign: signedFor("Not A//Reference")},
		{name: "bundle naming this repository", check: &cosign.ReferenceCheck{}, want: verify.Verified,
			sign: func(t *testing.T, img name.Digest) {
				testutil.AttachBundle(t, img, k1, testutil.Statement(img, cosign.SignPredicateType))
			}},
		{name: "bundle naming another repository", check: &cosign.ReferenceCheck{}, want: verify.Failed, checkIn: "/dev/debug-shell, not ",
			sign: func(t *testing.T, img name.Digest) { statement(debugShell(img))(t, img) }},
		{name: "bundle naming no repository (cosign's bundle format)", check: &cosign.ReferenceCheck{}, want: verify.Failed, checkIn: "names no repository", sign: statement("")},
		{name: "bundle naming no repository, check off", want: verify.Verified, sign: statement("")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := testutil.NewRegistry(t, true)
			var img name.Digest
			if tc.copied {
				dev := reg.PushImage(t, "dev/debug-shell:v1")
				legacy(t, dev)
				img = testutil.CopyWithSignatures(t, dev, reg.Host+"/prod/app")
			} else {
				img = reg.PushImage(t, "prod/app:v1")
				tc.sign(t, img)
			}
			key, err := cosign.ParsePublicKey([]byte(k1.PEM))
			if err != nil {
				t.Fatal(err)
			}
			v, err := cosign.New(registry.MustNew(registry.WithInsecureRegistries(reg.Host)), []cosign.TrustRoot{{Name: "k1", Key: key}},
				verify.Quorum{Roots: []string{"k1"}, Threshold: 1}, cosign.Options{Reference: tc.check})
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(context.Background(), verify.Image{Ref: img})
			if got := verify.Classify(err); got != tc.want {
				t.Fatalf("outcome = %s, want %s (err: %v; checks: %+v)", got, tc.want, err, res.Checks)
			}
			if tc.checkIn != "" && !slicesContainsReason(res.Checks, tc.checkIn) {
				t.Errorf("no check mentions %q: %+v", tc.checkIn, res.Checks)
			}
		})
	}
}

func slicesContainsReason(cs []verify.Check, s string) bool {
	for _, c := range cs {
		if strings.Contains(c.Reason, s) {
			return true
		}
	}
	return false
}

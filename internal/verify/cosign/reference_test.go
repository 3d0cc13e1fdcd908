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
	tests := []struct {
		name    string
		check   *cosign.ReferenceCheck // nil: verifyReference off
		setup   func(*testing.T, *testutil.Registry) name.Digest
		want    verify.Outcome
		checkIn string
	}{
		{name: "copied signature, check off (cosign's default)", want: verify.Verified,
			setup: func(t *testing.T, reg *testutil.Registry) name.Digest {
				dev := reg.PushImage(t, "dev/debug-shell:v1")
				testutil.SignLegacy(t, dev, k1)
				return testutil.CopyWithSignatures(t, dev, dev.Context().RegistryStr()+"/prod/app")
			}},
		{name: "copied signature", check: &cosign.ReferenceCheck{}, want: verify.Failed, checkIn: "/dev/debug-shell, not ",
			setup: func(t *testing.T, reg *testutil.Registry) name.Digest {
				dev := reg.PushImage(t, "dev/debug-shell:v1")
				testutil.SignLegacy(t, dev, k1)
				return testutil.CopyWithSignatures(t, dev, dev.Context().RegistryStr()+"/prod/app")
			}},
		{name: "copied signature, upstream accepted", want: verify.Verified,
			check: &cosign.ReferenceCheck{Accept: func(r string) bool { return strings.HasSuffix(r, "/dev/debug-shell") }},
			setup: func(t *testing.T, reg *testutil.Registry) name.Digest {
				dev := reg.PushImage(t, "dev/debug-shell:v1")
				testutil.SignLegacy(t, dev, k1)
				return testutil.CopyWithSignatures(t, dev, dev.Context().RegistryStr()+"/prod/app")
			}},
		{name: "signature for this repository", check: &cosign.ReferenceCheck{}, want: verify.Verified,
			setup: func(t *testing.T, reg *testutil.Registry) name.Digest {
				img := reg.PushImage(t, "prod/app:v1")
				testutil.SignLegacy(t, img, k1)
				return img
			}},
		{name: "signature naming this repository with a tag", check: &cosign.ReferenceCheck{}, want: verify.Verified,
			setup: func(t *testing.T, reg *testutil.Registry) name.Digest {
				img := reg.PushImage(t, "prod/app:v1")
				signedFor(img.Context().Name()+":v1")(t, img)
				return img
			}},
		{name: "signature naming another repository", check: &cosign.ReferenceCheck{}, want: verify.Failed, checkIn: "(verifyReference)",
			setup: func(t *testing.T, reg *testutil.Registry) name.Digest {
				img := reg.PushImage(t, "prod/app:v1")
				signedFor(debugShell(img))(t, img)
				return img
			}},
		{name: "signature naming another registry", check: &cosign.ReferenceCheck{}, want: verify.Failed, checkIn: "(verifyReference)",
			setup: func(t *testing.T, reg *testutil.Registry) name.Digest {
				img := reg.PushImage(t, "prod/app:v1")
				signedFor("registry.example/prod/app")(t, img)
				return img
			}},
		{name: "signature naming no repository", check: &cosign.ReferenceCheck{}, want: verify.Failed, checkIn: "names no repository",
			setup: func(t *testing.T, reg *testutil.Registry) name.Digest {
				img := reg.PushImage(t, "prod/app:v1")
				signedFor("")(t, img)
				return img
			}},
		{name: "signature naming garbage", check: &cosign.ReferenceCheck{}, want: verify.Failed, checkIn: "invalid image reference",
			setup: func(t *testing.T, reg *testutil.Registry) name.Digest {
				img := reg.PushImage(t, "prod/app:v1")
				signedFor("Not A//Reference")(t, img)
				return img
			}},
		{name: "bundle naming this repository", check: &cosign.ReferenceCheck{}, want: verify.Verified,
			setup: func(t *testing.T, reg *testutil.Registry) name.Digest {
				img := reg.PushImage(t, "prod/app:v1")
				testutil.AttachBundle(t, img, k1, testutil.Statement(img, cosign.SignPredicateType))
				return img
			}},
		{name: "bundle naming another repository", check: &cosign.ReferenceCheck{}, want: verify.Failed, checkIn: "/dev/debug-shell, not ",
			setup: func(t *testing.T, reg *testutil.Registry) name.Digest {
				img := reg.PushImage(t, "prod/app:v1")
				statement(debugShell(img))(t, img)
				return img
			}},
		{name: "bundle naming no repository (cosign's bundle format)", check: &cosign.ReferenceCheck{}, want: verify.Failed, checkIn: "names no repository",
			setup: func(t *testing.T, reg *testutil.Registry) name.Digest {
				img := reg.PushImage(t, "prod/app:v1")
				statement("")(t, img)
				return img
			}},
		{name: "bundle naming no repository, check off", want: verify.Verified,
			setup: func(t *testing.T, reg *testutil.Registry) name.Digest {
				img := reg.PushImage(t, "prod/app:v1")
				statement("")(t, img)
				return img
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := testutil.NewRegistry(t, true)
			img := tc.setup(t, reg)
			key, err := cosign.ParsePublicKey([]byte(k1.PEM))
			if err != nil {
				t.Fatal(err)
			}
			v, err := cosign.New(registry.MustNew(), []cosign.TrustRoot{{Name: "k1", Key: key}},
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

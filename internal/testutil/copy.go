package testutil

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signet-dev/signet/internal/fixture"
)

// CopyWithSignatures copies img and its legacy signatures (the ".sig"
// tag) to repository dst ("host/path"), as `cosign copy` does: the digest
// is the same, and so is the signed payload, which still names img's
// repository. It returns the copy.
func CopyWithSignatures(t testing.TB, img name.Digest, dst string) name.Digest {
	t.Helper()
	to, err := name.NewRepository(dst, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	sig := fixture.SigTag(img)
	for _, c := range []struct{ from, to name.Reference }{
		{img, to.Digest(img.DigestStr())},
		{sig, to.Tag(sig.TagStr())},
	} {
		i, err := remote.Image(c.from)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(c.to, i); err != nil {
			t.Fatal(err)
		}
	}
	return to.Digest(img.DigestStr())
}

package testutil

import (
	"net/http"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Intercept lets f answer requests (true) before the registry does; nil
// turns it off.
func (r *Registry) Intercept(f func(http.ResponseWriter, *http.Request) bool) {
	if f == nil {
		r.intercept.Store(nil)
		return
	}
	r.intercept.Store(&f)
}

// PushIndex pushes to repo:tag an image index of a small random image per
// platform (os/arch[/variant], or "unknown/unknown" for an attestation
// manifest as BuildKit adds them) and returns the index's digest and each
// platform's, in order.
func (r *Registry) PushIndex(t testing.TB, repoTag string, platforms ...string) (name.Digest, []name.Digest) {
	t.Helper()
	tag, err := name.NewTag(r.Host + "/" + repoTag)
	if err != nil {
		t.Fatal(err)
	}
	var idx v1.ImageIndex = empty.Index
	var digests []name.Digest
	for _, p := range platforms {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		pl, err := v1.ParsePlatform(p)
		if err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: pl}})
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, tag.Context().Digest(d.String()))
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatalf("pushing %s: %v", tag, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return tag.Context().Digest(d.String()), digests
}

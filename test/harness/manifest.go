package harness

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RawManifest is a manifest (or index) pushed byte for byte with
// remote.Put, with the media type its mediaType field names: what a test
// that rewrites what a signer stored pushes in its place.
type RawManifest []byte

// RawManifest implements remote.Taggable.
func (r RawManifest) RawManifest() ([]byte, error) { return r, nil }

// MediaType is the manifest's mediaType.
func (r RawManifest) MediaType() (types.MediaType, error) {
	var m struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	if err := json.Unmarshal(r, &m); err != nil || m.MediaType == "" {
		return "", fmt.Errorf("manifest without a mediaType: %v", err)
	}
	return m.MediaType, nil
}

// Referrers lists the descriptors of img's OCI referrers, through the
// referrers API or the tag schema, as go-containerregistry finds them.
func Referrers(t testing.TB, img name.Digest) []v1.Descriptor {
	t.Helper()
	idx, err := remote.Referrers(img)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	return im.Manifests
}

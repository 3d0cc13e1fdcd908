package harness

import (
	"encoding/json"
	"fmt"

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

package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Referrers lists the OCI 1.1 referrers of img: through the referrers API,
// or the referrers tag schema on registries without it. In a context made
// by WithShared the list is fetched once.
func Referrers(ctx context.Context, img name.Digest, ropts []remote.Option) ([]v1.Descriptor, error) {
	return Shared(ctx, "referrers "+img.String(), func() ([]v1.Descriptor, error) { return referrers(img, ropts) })
}

func referrers(img name.Digest, ropts []remote.Option) ([]v1.Descriptor, error) {
	idx, err := remote.Referrers(img, ropts...)
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	return im.Manifests, nil
}

// ReadBlob reads the blob ref names, refusing more than max bytes. The
// content is checked against its digest as it is read, so a registry
// serving other bytes than it was asked for fails the read.
func ReadBlob(ref name.Digest, max int64, ropts []remote.Option) ([]byte, error) {
	l, err := remote.Layer(ref, ropts...)
	if err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", ref.DigestStr(), max)
	}
	return b, nil
}

// IndexManifests returns the manifests the image index img names lists,
// and nil (with no error) when img names an image (a manifest): one GET of
// img, bounded by MaxManifestBytes like every manifest. An index listing
// more than max manifests is refused with a *TooManyManifestsError before
// its descriptors are decoded (they are only counted). In a context made
// by WithShared it is fetched once.
func IndexManifests(ctx context.Context, img name.Digest, max int, ropts []remote.Option) ([]v1.Descriptor, error) {
	return Shared(ctx, fmt.Sprintf("index %s %d", img, max), func() ([]v1.Descriptor, error) { return indexManifests(img, max, ropts) })
}

// TooManyManifestsError says an image index lists more manifests than
// the caller verifies.
type TooManyManifestsError struct {
	Index      string
	Count, Max int
}

func (e *TooManyManifestsError) Error() string {
	return fmt.Sprintf("image index %s lists %d manifests, more than the %d signet verifies", e.Index, e.Count, e.Max)
}

func indexManifests(img name.Digest, max int, ropts []remote.Option) ([]v1.Descriptor, error) {
	desc, err := remote.Get(img, ropts...)
	if err != nil {
		return nil, err
	}
	if !desc.MediaType.IsIndex() {
		return nil, nil
	}
	// Counted first: empty structs cost nothing however many there are.
	var count struct {
		Manifests []struct{} `json:"manifests"`
	}
	if err := json.Unmarshal(desc.Manifest, &count); err != nil {
		return nil, fmt.Errorf("parsing image index %s: %w", img.DigestStr(), err)
	}
	if len(count.Manifests) > max {
		return nil, &TooManyManifestsError{Index: img.DigestStr(), Count: len(count.Manifests), Max: max}
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("parsing image index %s: %w", img.DigestStr(), err)
	}
	if im.Manifests == nil {
		return []v1.Descriptor{}, nil
	}
	return im.Manifests, nil
}

package cosign

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	cbundle "github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v2/pkg/oci"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"

	"github.com/signet-dev/signet/internal/registry"
)

// Limits on what one image may make signet read. They bound memory and
// registry traffic for images with unreasonable numbers of attachments.
const (
	// MaxSignatures is the most legacy signatures (layers of the .sig
	// manifest) examined per image.
	MaxSignatures = 64
	// MaxReferrers is the most referrers examined per image.
	MaxReferrers = 64
	// MaxPayloadBytes bounds one signature payload or bundle.
	MaxPayloadBytes = 1 << 20
)

// bundleArtifactPrefix starts the artifactType (and layer media type) of
// Sigstore bundles.
const bundleArtifactPrefix = "application/vnd.dev.sigstore.bundle"

// legacySig is one legacy signature held in memory.
type legacySig struct {
	source string
	sig    oci.Signature
}

// fetchLegacy reads the signatures stored under the image's ".sig" tag. A
// missing tag is not an error: it returns no signatures. Only the first
// MaxSignatures layers are read; skipped says how many more there were.
func fetchLegacy(ctx context.Context, img name.Digest, ropts []remote.Option) (sigs []legacySig, source string, skipped int, err error) {
	tag, err := ociremote.SignatureTag(img)
	if err != nil {
		return nil, "", 0, fmt.Errorf("deriving signature tag: %w", err)
	}
	source = tag.TagStr()
	all, err := ociremote.Signatures(tag, ociremote.WithRemoteOptions(ropts...))
	if err != nil {
		return nil, source, 0, err
	}
	m, err := all.Manifest()
	if err != nil {
		return nil, source, 0, err
	}
	if m == nil || len(m.Layers) == 0 {
		return nil, source, 0, nil
	}
	layers := m.Layers
	if len(layers) > MaxSignatures {
		layers, skipped = layers[:MaxSignatures], len(layers)-MaxSignatures
	}
	out := make([]legacySig, 0, len(layers))
	for i, desc := range layers {
		src := fmt.Sprintf("%s#%d", source, i)
		if desc.Size > MaxPayloadBytes {
			out = append(out, legacySig{source: src})
			continue
		}
		payload, err := registry.ReadBlob(img.Context().Digest(desc.Digest.String()), MaxPayloadBytes, ropts)
		if err != nil {
			return nil, source, 0, err
		}
		s, err := layerSignature(payload, desc.Annotations)
		if err != nil {
			out = append(out, legacySig{source: src})
			continue
		}
		out = append(out, legacySig{source: src, sig: s})
	}
	return out, source, skipped, nil
}

// layerSignature rebuilds a legacy signature from its payload and the
// layer's annotations: the signature, and for keyless signatures the
// certificate chain, the Rekor bundle and an RFC 3161 timestamp.
func layerSignature(payload []byte, ann map[string]string) (oci.Signature, error) {
	ann = maps.Clone(ann) // the options below write into it
	opts := []static.Option{static.WithAnnotations(ann)}
	if cert := ann[static.CertificateAnnotationKey]; cert != "" {
		opts = append(opts, static.WithCertChain([]byte(cert), []byte(ann[static.ChainAnnotationKey])))
	}
	if b := ann[static.BundleAnnotationKey]; b != "" {
		rb := &cbundle.RekorBundle{}
		if err := json.Unmarshal([]byte(b), rb); err != nil {
			return nil, fmt.Errorf("invalid Rekor bundle annotation: %w", err)
		}
		opts = append(opts, static.WithBundle(rb))
	}
	if t := ann[static.RFC3161TimestampAnnotationKey]; t != "" {
		ts := &cbundle.RFC3161Timestamp{}
		if err := json.Unmarshal([]byte(t), ts); err != nil {
			return nil, fmt.Errorf("invalid RFC 3161 timestamp annotation: %w", err)
		}
		opts = append(opts, static.WithRFC3161Timestamp(ts))
	}
	return static.NewSignature(payload, ann[static.SignatureAnnotationKey], opts...)
}

// referrerBundle is one Sigstore bundle attached to the image.
type referrerBundle struct {
	source string
	bundle *sgbundle.Bundle
	err    error // why the referrer could not be read as a bundle
}

// fetchBundles lists the image's referrers and reads those that carry a
// Sigstore bundle, the first MaxReferrers of them; skipped says how many
// more there were.
func fetchBundles(ctx context.Context, img name.Digest, ropts []remote.Option) (out []referrerBundle, skipped int, err error) {
	descs, err := registry.Referrers(ctx, img, ropts)
	if err != nil {
		return nil, 0, err
	}
	for _, desc := range descs {
		if !maybeBundle(desc) {
			continue
		}
		if t, ok := desc.Annotations[bundlePredicateAnnotation]; ok && t != SignPredicateType {
			continue // an attestation (cosign v3 annotates every bundle it writes)
		}
		if len(out) >= MaxReferrers {
			skipped++
			continue
		}
		rb := referrerBundle{source: "referrer " + desc.Digest.String()}
		rb.bundle, rb.err = readBundle(ctx, img.Context().Digest(desc.Digest.String()), ropts)
		if rb.err != nil && !isNotBundle(rb.err) {
			return nil, 0, rb.err
		}
		if rb.err == nil || desc.ArtifactType != "" && strings.HasPrefix(desc.ArtifactType, bundleArtifactPrefix) {
			out = append(out, rb)
		}
	}
	return out, skipped, nil
}

// maybeBundle says whether a referrer may hold a Sigstore bundle. Referrers
// typed as something else (Notation signatures, SBOMs…) are skipped without
// a request. Untyped referrers and the OCI empty type are read, because some
// registries report the config media type instead of the artifact type.
func maybeBundle(desc v1.Descriptor) bool {
	at := desc.ArtifactType
	return at == "" || strings.HasPrefix(at, bundleArtifactPrefix) || at == "application/vnd.oci.empty.v1+json"
}

type notBundleError struct{ msg string }

func (e *notBundleError) Error() string { return e.msg }

func isNotBundle(err error) bool { _, ok := err.(*notBundleError); return ok }

// readBundle fetches a referrer manifest and its single bundle layer.
func readBundle(ctx context.Context, ref name.Digest, ropts []remote.Option) (*sgbundle.Bundle, error) {
	m, err := sharedManifest(ctx, ref, ropts)
	if err != nil {
		return nil, err
	}
	if m == nil {
		return nil, &notBundleError{"referrer manifest not found"}
	}
	if t, ok := m.Annotations[bundlePredicateAnnotation]; ok && t != SignPredicateType {
		return nil, &notBundleError{"referrer is an attestation (predicate type " + truncate(t) + "), not a signature"}
	}
	if len(m.Layers) != 1 || !strings.HasPrefix(string(m.Layers[0].MediaType), bundleArtifactPrefix) {
		return nil, &notBundleError{"referrer is not a Sigstore bundle"}
	}
	if m.Layers[0].Size > MaxPayloadBytes {
		return nil, &notBundleError{fmt.Sprintf("bundle larger than %d bytes", MaxPayloadBytes)}
	}
	b, err := registry.ReadBlob(ref.Context().Digest(m.Layers[0].Digest.String()), MaxPayloadBytes, ropts)
	if err != nil {
		return nil, err
	}
	bundle := &sgbundle.Bundle{}
	if err := bundle.UnmarshalJSON(b); err != nil {
		return nil, &notBundleError{"invalid Sigstore bundle: " + err.Error()}
	}
	if !bundle.MinVersion("v0.3") {
		return nil, &notBundleError{"Sigstore bundle older than v0.3"}
	}
	return bundle, nil
}

package signing

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

// BundleArtifactType is the artifactType of a Sigstore bundle referrer.
const BundleArtifactType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// SignPredicateType is the in-toto predicate of a cosign image signature.
const SignPredicateType = "https://sigstore.dev/cosign/sign/v1"

// Key is an ECDSA P-256 signing key, generated at run time and kept in
// memory only.
type Key struct {
	kp  *sign.EphemeralKeypair
	PEM string // public key, PEM
}

// NewKey generates a key.
func NewKey() (*Key, error) {
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		return nil, err
	}
	pem, err := kp.GetPublicKeyPem()
	if err != nil {
		return nil, err
	}
	return &Key{kp: kp, PEM: pem}, nil
}

// Sign signs data: ECDSA over SHA-256, as cosign does.
func (k *Key) Sign(data []byte) ([]byte, error) {
	sig, _, err := k.kp.SignData(context.Background(), data)
	return sig, err
}

// Payload returns the cosign simple-signing payload for digest in repo.
func Payload(repo, digest string) []byte {
	return []byte(`{"critical":{"identity":{"docker-reference":"` + repo + `"},"image":{"docker-manifest-digest":"` + digest + `"},"type":"cosign container image signature"},"optional":null}`)
}

// SigTag returns the legacy signature tag of img.
func SigTag(img name.Digest) name.Tag {
	return img.Context().Tag(strings.Replace(img.DigestStr(), ":", "-", 1) + ".sig")
}

// SignLegacy adds a legacy cosign signature by key to img's ".sig" tag.
func SignLegacy(img name.Digest, key *Key, opts ...remote.Option) error {
	payload := Payload(img.Context().Name(), img.DigestStr())
	sig, err := key.Sign(payload)
	if err != nil {
		return err
	}
	return AppendLegacy(img, payload, sig, opts...)
}

// AppendLegacy adds an arbitrary payload and signature as a layer of img's
// ".sig" manifest, creating the manifest when absent.
func AppendLegacy(img name.Digest, payload, sig []byte, opts ...remote.Option) error {
	return AppendLayer(img, payload, map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig)}, opts...)
}

// AppendLayer adds a simple-signing layer with annotations (the signature,
// and for keyless signatures the certificate and chain) to img's ".sig"
// manifest, creating the manifest when absent.
func AppendLayer(img name.Digest, payload []byte, ann map[string]string, opts ...remote.Option) error {
	tag := SigTag(img)
	base, err := remote.Image(tag, opts...)
	if err != nil {
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	out, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json"),
		Annotations: ann,
	})
	if err != nil {
		return err
	}
	return remote.Write(tag, out, opts...)
}

// Statement returns an in-toto statement about img with predicateType.
func Statement(img name.Digest, predicateType string) []byte {
	return StatementWith(img, predicateType, map[string]any{})
}

// StatementWith returns an in-toto statement about img with predicateType
// and predicate (any value encoding/json encodes).
func StatementWith(img name.Digest, predicateType string, predicate any) []byte {
	h, _ := v1.NewHash(img.DigestStr())
	b, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": img.Context().Name(), "digest": map[string]string{h.Algorithm: h.Hex}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	return b
}

// AttachBundle signs statement with key as a DSSE envelope in a Sigstore
// bundle and attaches it to img as an OCI 1.1 referrer, the way cosign v3
// does.
func AttachBundle(img name.Digest, key *Key, statement []byte, opts ...remote.Option) (name.Digest, error) {
	pb, err := sign.Bundle(&sign.DSSEData{Data: statement, PayloadType: "application/vnd.in-toto+json"}, key.kp, sign.BundleOptions{})
	if err != nil {
		return name.Digest{}, err
	}
	bundleJSON, err := protojson.Marshal(pb)
	if err != nil {
		return name.Digest{}, err
	}
	// Annotated as cosign v3 annotates the bundles it attaches.
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	_ = json.Unmarshal(statement, &st)
	ann := map[string]string{"dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": st.PredicateType}
	return attachAnnotated(img, BundleArtifactType, "application/vnd.oci.empty.v1+json", BundleArtifactType, bundleJSON, ann, opts...)
}

// DSSEEnvelope signs statement with key as a DSSE envelope (the in-toto
// payload type), in the JSON form cosign stores under the .att tag.
func DSSEEnvelope(key *Key, statement []byte) ([]byte, error) {
	pb, err := sign.Bundle(&sign.DSSEData{Data: statement, PayloadType: "application/vnd.in-toto+json"}, key.kp, sign.BundleOptions{})
	if err != nil {
		return nil, err
	}
	env := pb.GetDsseEnvelope()
	type sig struct {
		KeyID string `json:"keyid"`
		Sig   []byte `json:"sig"`
	}
	out := struct {
		PayloadType string `json:"payloadType"`
		Payload     []byte `json:"payload"`
		Signatures  []sig  `json:"signatures"`
	}{PayloadType: env.GetPayloadType(), Payload: env.GetPayload()}
	for _, s := range env.GetSignatures() {
		out.Signatures = append(out.Signatures, sig{KeyID: s.GetKeyid(), Sig: s.GetSig()})
	}
	return json.Marshal(out)
}

// AttTag returns the legacy attestation tag of img.
func AttTag(img name.Digest) name.Tag {
	return img.Context().Tag(strings.Replace(img.DigestStr(), ":", "-", 1) + ".att")
}

// AppendAttestation signs statement with key and adds it as a layer of
// img's ".att" manifest, annotated with predicateType, the way cosign
// attest stores attestations.
func AppendAttestation(img name.Digest, key *Key, statement []byte, predicateType string, opts ...remote.Option) error {
	env, err := DSSEEnvelope(key, statement)
	if err != nil {
		return err
	}
	return AppendEnvelope(img, env, predicateType, opts...)
}

// AppendEnvelope adds a DSSE envelope as a layer of img's ".att" manifest,
// creating the manifest when absent.
func AppendEnvelope(img name.Digest, env []byte, predicateType string, opts ...remote.Option) error {
	tag := AttTag(img)
	base, err := remote.Image(tag, opts...)
	if err != nil {
		base = mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	}
	out, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(env, "application/vnd.dsse.envelope.v1+json"),
		Annotations: map[string]string{"dev.cosignproject.cosign/signature": "", "predicateType": predicateType},
	})
	if err != nil {
		return err
	}
	return remote.Write(tag, out, opts...)
}

// AttachReferrer attaches a one-layer OCI artifact with the given
// artifactType and layer media type to img. On registries without the
// referrers API the referrers tag schema is updated.
func AttachReferrer(img name.Digest, artifactType, layerType string, content []byte, opts ...remote.Option) (name.Digest, error) {
	return AttachArtifact(img, artifactType, "application/vnd.oci.empty.v1+json", layerType, content, opts...)
}

// AttachArtifact is AttachReferrer with the config media type chosen too:
// Notation signatures carry their type there (and leave artifactType empty
// when artifactType is "").
func AttachArtifact(img name.Digest, artifactType, configType, layerType string, content []byte, opts ...remote.Option) (name.Digest, error) {
	return attachAnnotated(img, artifactType, configType, layerType, content, nil, opts...)
}

// attachAnnotated is AttachArtifact with manifest annotations.
func attachAnnotated(img name.Digest, artifactType, configType, layerType string, content []byte, annotations map[string]string, opts ...remote.Option) (name.Digest, error) {
	repo := img.Context()
	emptyCfg := static.NewLayer([]byte("{}"), types.MediaType(configType))
	layer := static.NewLayer(content, types.MediaType(layerType))
	for _, l := range []v1.Layer{emptyCfg, layer} {
		if err := remote.WriteLayer(repo, l, opts...); err != nil {
			return name.Digest{}, err
		}
	}
	subj, err := remote.Head(img, opts...)
	if err != nil {
		return name.Digest{}, err
	}
	desc := func(l v1.Layer) map[string]any {
		d, _ := l.Digest()
		s, _ := l.Size()
		mt, _ := l.MediaType()
		return map[string]any{"mediaType": mt, "digest": d.String(), "size": s}
	}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIManifestSchema1,
		"config":        desc(emptyCfg),
		"layers":        []any{desc(layer)},
		"subject":       map[string]any{"mediaType": subj.MediaType, "digest": subj.Digest.String(), "size": subj.Size},
	}
	if artifactType != "" {
		m["artifactType"] = artifactType
	}
	if len(annotations) > 0 {
		m["annotations"] = annotations
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return name.Digest{}, err
	}
	sum, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return name.Digest{}, err
	}
	ref := repo.Digest(sum.String())
	return ref, remote.Put(ref, rawManifest(raw), opts...)
}

type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error)        { return r, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

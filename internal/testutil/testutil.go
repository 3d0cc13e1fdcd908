// Package testutil gives tests a real OCI registry (go-containerregistry's
// in-process registry, served over HTTP on loopback) and real signatures
// made in memory: legacy cosign signatures and Sigstore bundles attached as
// OCI 1.1 referrers, byte for byte in the format cosign writes them.
package testutil

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"google.golang.org/protobuf/encoding/protojson"
)

// Registry is an in-process OCI registry on loopback that counts requests.
type Registry struct {
	Host   string // host:port
	server *httptest.Server

	requests atomic.Int64
	mu       sync.Mutex
	paths    []string
	down     atomic.Bool
}

// NewRegistry starts a registry; referrers selects whether it implements the
// OCI 1.1 referrers API (without it, clients use the referrers tag schema).
func NewRegistry(t testing.TB, referrers bool) *Registry {
	t.Helper()
	opts := []ggcrregistry.Option{ggcrregistry.Logger(log.New(io.Discard, "", 0))}
	if referrers {
		opts = append(opts, ggcrregistry.WithReferrersSupport(true))
	}
	h := ggcrregistry.New(opts...)
	r := &Registry{}
	r.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		r.requests.Add(1)
		r.mu.Lock()
		r.paths = append(r.paths, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(r.server.Close)
	r.Host = strings.TrimPrefix(r.server.URL, "http://")
	return r
}

// Requests returns the number of requests served since the last Reset.
func (r *Registry) Requests() int64 { return r.requests.Load() }

// Paths returns "METHOD /path" of each request since the last Reset.
func (r *Registry) Paths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.paths...)
}

// Reset zeroes the request counter.
func (r *Registry) Reset() {
	r.requests.Store(0)
	r.mu.Lock()
	r.paths = nil
	r.mu.Unlock()
}

// SetDown makes every request fail with 503 (down=true) or succeed again.
func (r *Registry) SetDown(down bool) { r.down.Store(down) }

// Close stops the registry: connections are refused from then on.
func (r *Registry) Close() { r.server.Close() }

// Ref parses a reference in this registry ("demo/app:v1").
func (r *Registry) Ref(t testing.TB, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(r.Host + "/" + s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// PushImage pushes a small random image to repo:tag and returns its digest
// reference.
func (r *Registry) PushImage(t testing.TB, repoTag string) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref := r.Ref(t, repoTag)
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Digest(d.String())
}

// Key is an ECDSA P-256 signing key.
type Key struct {
	kp  *sign.EphemeralKeypair
	PEM string // public key, PEM
}

// NewKey generates a key.
func NewKey(t testing.TB) *Key {
	t.Helper()
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := kp.GetPublicKeyPem()
	if err != nil {
		t.Fatal(err)
	}
	return &Key{kp: kp, PEM: pem}
}

// Sign signs data (ECDSA over SHA-256, as cosign does).
func (k *Key) Sign(t testing.TB, data []byte) []byte {
	t.Helper()
	sig, _, err := k.kp.SignData(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	return sig
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
func SignLegacy(t testing.TB, img name.Digest, key *Key) {
	t.Helper()
	payload := Payload(img.Context().Name(), img.DigestStr())
	AppendLegacy(t, img, payload, key.Sign(t, payload))
}

// AppendLegacy adds an arbitrary payload and signature as a layer of img's
// ".sig" manifest, creating it when absent.
func AppendLegacy(t testing.TB, img name.Digest, payload, sig []byte) {
	t.Helper()
	tag := SigTag(img)
	base, err := remote.Image(tag)
	if err != nil {
		base = mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	}
	layer := static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json")
	out, err := mutate.Append(base, mutate.Addendum{
		Layer:       layer,
		Annotations: map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, out); err != nil {
		t.Fatal(err)
	}
}

// Statement returns an in-toto statement about img with predicateType.
func Statement(img name.Digest, predicateType string) []byte {
	h, _ := v1.NewHash(img.DigestStr())
	b, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": img.Context().Name(), "digest": map[string]string{h.Algorithm: h.Hex}}},
		"predicateType": predicateType,
		"predicate":     map[string]any{},
	})
	return b
}

// BundleArtifactType is the artifactType of a Sigstore bundle referrer.
const BundleArtifactType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// AttachBundle signs statement with key as a DSSE envelope in a Sigstore
// bundle and attaches it to img as an OCI 1.1 referrer, the way cosign v3
// does. It returns the referrer's digest.
func AttachBundle(t testing.TB, img name.Digest, key *Key, statement []byte) name.Digest {
	t.Helper()
	pb, err := sign.Bundle(&sign.DSSEData{Data: statement, PayloadType: "application/vnd.in-toto+json"}, key.kp, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bundleJSON, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	return AttachReferrer(t, img, BundleArtifactType, BundleArtifactType, bundleJSON)
}

// AttachReferrer attaches a one-layer OCI artifact with the given
// artifactType and layer media type to img.
func AttachReferrer(t testing.TB, img name.Digest, artifactType, layerType string, content []byte) name.Digest {
	t.Helper()
	repo := img.Context()
	emptyCfg := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	layer := static.NewLayer(content, types.MediaType(layerType))
	for _, l := range []v1.Layer{emptyCfg, layer} {
		if err := remote.WriteLayer(repo, l); err != nil {
			t.Fatal(err)
		}
	}
	subj, err := remote.Head(img)
	if err != nil {
		t.Fatal(err)
	}
	desc := func(l v1.Layer) map[string]any {
		d, _ := l.Digest()
		s, _ := l.Size()
		mt, _ := l.MediaType()
		return map[string]any{"mediaType": mt, "digest": d.String(), "size": s}
	}
	raw, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIManifestSchema1,
		"artifactType":  artifactType,
		"config":        desc(emptyCfg),
		"layers":        []any{desc(layer)},
		"subject":       map[string]any{"mediaType": subj.MediaType, "digest": subj.Digest.String(), "size": subj.Size},
	})
	sum, _, _ := v1.SHA256(bytes.NewReader(raw))
	ref := repo.Digest(sum.String())
	if err := remote.Put(ref, rawManifest(raw)); err != nil {
		t.Fatal(err)
	}
	return ref
}

type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error)         { return r, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// HexDigest returns the hex part of a digest string.
func HexDigest(d string) string {
	_, h, _ := strings.Cut(d, ":")
	if _, err := hex.DecodeString(h); err != nil {
		return ""
	}
	return h
}

package keyless

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-dev/signet/test/harness"
)

// tamper alters the transparency-log evidence stored with img's signature
// and re-pushes it in its place.
type tamper struct {
	name, tag string
	apply     func(t *testing.T, img name.Digest, referrersAPI bool)
	// control re-pushes the signature unchanged: still valid, it shows
	// the re-push alone denies nothing.
	control bool
}

// control is the name of the tamper that changes nothing.
const control = "none (control: re-pushed unchanged is allowed)"

// legacyTampers edit the Rekor bundle annotation of a legacy .sig layer
// (dev.sigstore.cosign/bundle: {SignedEntryTimestamp, Payload{body,
// integratedTime, logIndex, logID}}); the SET signs the payload.
var legacyTampers = []tamper{
	{control, "legacy-control", legacyBundle(func(*testing.T, map[string]any) {}), true},
	{"SET altered", "legacy-set", legacyBundle(func(t *testing.T, b map[string]any) {
		b["SignedEntryTimestamp"] = flipBase64(t, b["SignedEntryTimestamp"])
	}), false},
	{"integrated time altered", "legacy-time", legacyBundle(func(t *testing.T, b map[string]any) {
		p := b["Payload"].(map[string]any)
		p["integratedTime"] = p["integratedTime"].(float64) - 3600
	}), false},
	{"log index altered", "legacy-index", legacyBundle(func(t *testing.T, b map[string]any) {
		p := b["Payload"].(map[string]any)
		p["logIndex"] = p["logIndex"].(float64) + 1
	}), false},
}

// bundleTampers edit the tlog entry of a Sigstore bundle (protobuf-specs
// JSON: verificationMaterial.tlogEntries[0] with inclusionPromise and
// inclusionProof).
var bundleTampers = []tamper{
	{control, "bundle-control", sigstoreBundle(func(*testing.T, map[string]any) {}), true},
	{"SET altered", "bundle-set", sigstoreBundle(func(t *testing.T, e map[string]any) {
		p := e["inclusionPromise"].(map[string]any)
		p["signedEntryTimestamp"] = flipBase64(t, p["signedEntryTimestamp"])
	}), false},
	{"inclusion proof altered", "bundle-proof", sigstoreBundle(func(t *testing.T, e map[string]any) {
		p := e["inclusionProof"].(map[string]any)
		p["rootHash"] = flipBase64(t, p["rootHash"])
	}), false},
	{"integrated time altered", "bundle-time", sigstoreBundle(func(t *testing.T, e map[string]any) {
		e["integratedTime"] = shiftInt(t, e["integratedTime"], -3600)
	}), false},
}

// flipBase64 flips the bits of one byte of a base64 string.
func flipBase64(t *testing.T, v any) string {
	t.Helper()
	s, _ := v.(string)
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(raw) == 0 {
		t.Fatalf("not base64: %q (%v)", s, err)
	}
	raw[len(raw)/2] ^= 0xff
	return base64.StdEncoding.EncodeToString(raw)
}

// shiftInt adds d to an int64 that protobuf JSON writes as a string.
func shiftInt(t *testing.T, v any, d int64) string {
	t.Helper()
	var n int64
	if err := json.Unmarshal([]byte(v.(string)), &n); err != nil {
		t.Fatalf("not an integer: %v", v)
	}
	b, _ := json.Marshal(n + d)
	return string(b)
}

func sigTag(img name.Digest) name.Tag {
	return img.Context().Tag(strings.Replace(img.DigestStr(), ":", "-", 1) + ".sig")
}

// legacyBundle rewrites every layer of img's .sig manifest with f applied
// to its Rekor bundle annotation.
func legacyBundle(f func(*testing.T, map[string]any)) func(*testing.T, name.Digest, bool) {
	return func(t *testing.T, img name.Digest, _ bool) {
		t.Helper()
		sigImg, err := remote.Image(sigTag(img))
		if err != nil {
			t.Fatal(err)
		}
		m, err := sigImg.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		layers, err := sigImg.Layers()
		if err != nil {
			t.Fatal(err)
		}
		out := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		for i, l := range layers {
			payload := readAll(t, l)
			ann := maps.Clone(m.Layers[i].Annotations)
			var b map[string]any
			if err := json.Unmarshal([]byte(ann["dev.sigstore.cosign/bundle"]), &b); err != nil {
				t.Fatalf("layer %d has no Rekor bundle: %v", i, err)
			}
			f(t, b)
			nb, _ := json.Marshal(b)
			ann["dev.sigstore.cosign/bundle"] = string(nb)
			if out, err = mutate.Append(out, mutate.Addendum{Layer: static.NewLayer(payload, m.Layers[i].MediaType), Annotations: ann}); err != nil {
				t.Fatal(err)
			}
		}
		if err := remote.Write(sigTag(img), out); err != nil {
			t.Fatal(err)
		}
	}
}

// bundleMediaType is the layer (and artifact) type of a Sigstore bundle
// stored as an OCI referrer.
const bundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// sigstoreBundle replaces img's Sigstore bundle referrer with a copy whose
// first tlog entry is rewritten by f: the new manifest is pushed (with the
// same subject), the old one is deleted (referrers API) and dropped from
// the referrers tag index (tag schema), so only the tampered one is found.
func sigstoreBundle(f func(*testing.T, map[string]any)) func(*testing.T, name.Digest, bool) {
	return func(t *testing.T, img name.Digest, referrersAPI bool) {
		t.Helper()
		repo := img.Context()
		oldDigest, manifest := findBundle(t, img)
		layer := manifest["layers"].([]any)[0].(map[string]any)
		blob, err := remote.Layer(repo.Digest(layer["digest"].(string)))
		if err != nil {
			t.Fatal(err)
		}
		var bundle map[string]any
		if err := json.Unmarshal(readAll(t, blob), &bundle); err != nil {
			t.Fatal(err)
		}
		entries, _ := bundle["verificationMaterial"].(map[string]any)["tlogEntries"].([]any)
		if len(entries) == 0 {
			t.Fatal("the bundle has no tlog entry to tamper with")
		}
		f(t, entries[0].(map[string]any))
		nb, _ := json.Marshal(bundle)
		nl := static.NewLayer(nb, bundleMediaType)
		if err := remote.WriteLayer(repo, nl); err != nil {
			t.Fatal(err)
		}
		d, _ := nl.Digest()
		layer["digest"], layer["size"] = d.String(), len(nb)
		raw, _ := json.Marshal(manifest)
		h, _, _ := v1.SHA256(bytes.NewReader(raw))
		if err := remote.Put(repo.Digest(h.String()), harness.RawManifest(raw)); err != nil {
			t.Fatal(err)
		}
		if referrersAPI {
			if err := remote.Delete(repo.Digest(oldDigest.String())); err != nil {
				t.Fatal(err)
			}
		}
		dropFromTagIndex(t, img, oldDigest)
	}
}

// findBundle returns img's only Sigstore bundle referrer: its digest and
// manifest as JSON.
func findBundle(t *testing.T, img name.Digest) (v1.Hash, map[string]any) {
	t.Helper()
	var found []v1.Hash
	var manifest map[string]any
	for _, desc := range harness.Referrers(t, img) {
		got, err := remote.Get(img.Context().Digest(desc.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Layers []v1.Descriptor `json:"layers"`
		}
		if json.Unmarshal(got.Manifest, &m) == nil && len(m.Layers) == 1 && m.Layers[0].MediaType == bundleMediaType {
			found = append(found, desc.Digest)
			if err := json.Unmarshal(got.Manifest, &manifest); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s has %d Sigstore bundle referrers, want 1", img, len(found))
	}
	return found[0], manifest
}

// dropFromTagIndex removes old from the referrers tag schema's index
// (tag sha256-<hex>), when there is one.
func dropFromTagIndex(t *testing.T, img name.Digest, old v1.Hash) {
	t.Helper()
	tag := img.Context().Tag(strings.Replace(img.DigestStr(), ":", "-", 1))
	got, err := remote.Get(tag)
	var terr *transport.Error
	if errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	var idx map[string]any
	if err := json.Unmarshal(got.Manifest, &idx); err != nil {
		t.Fatal(err)
	}
	var keep []any
	for _, m := range idx["manifests"].([]any) {
		if m.(map[string]any)["digest"] != old.String() {
			keep = append(keep, m)
		}
	}
	idx["manifests"] = keep
	raw, _ := json.Marshal(idx)
	if err := remote.Put(tag, harness.RawManifest(raw)); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, l v1.Layer) []byte {
	t.Helper()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

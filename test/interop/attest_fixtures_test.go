package interop

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-dev/signet/test/harness"
)

// The builder the provenance fixtures name, and the one they do not.
const (
	ciBuilder    = "https://ci.example/builder"
	otherBuilder = "https://rogue.example/builder"
	customType   = "https://example.com/custom/v1"
	// bundleMediaType is the layer type of a Sigstore bundle referrer.
	bundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

// predicates are the predicate files cosign attests, by name; each name is
// also the requirement that reads it in attestationPolicy.
type predicates struct {
	dir string
	// sbom is the real CycloneDX SBOM of the signet binary.
	sbom string
}

var (
	sbomOnce sync.Once
	sbomPath string
	sbomErr  error
)

// realSBOM is the CycloneDX SBOM the pinned generator (cyclonedx-gomod,
// hack/tools/sbom) makes of the signet binary the suite built, made once
// per test process.
func realSBOM(t testing.TB) string {
	t.Helper()
	bin := harness.Bin(t, "signet")
	gen := harness.Tool(t, "sbom")
	sbomOnce.Do(func() {
		sbomPath = bin + ".cdx.json"
		cmd := exec.Command(gen, "bin", "-json", "-licenses=false", "-output", sbomPath, bin)
		if out, err := cmd.CombinedOutput(); err != nil {
			sbomErr = fmt.Errorf("cyclonedx-gomod: %v\n%s", err, out)
		}
	})
	if sbomErr != nil {
		t.Fatal(sbomErr)
	}
	return sbomPath
}

// writePredicates writes one predicate of each kind into a directory of
// the test's: provenance naming builder, a scan finished at scanned with
// critical findings, and so on.
func writePredicates(t testing.TB) *predicates {
	t.Helper()
	p := &predicates{dir: t.TempDir(), sbom: realSBOM(t)}
	now := time.Now().UTC()
	var cdx struct {
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"components"`
	}
	raw, err := os.ReadFile(p.sbom)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &cdx); err != nil || len(cdx.Components) == 0 {
		t.Fatalf("the generated SBOM lists no components: %v", err)
	}
	// The SPDX document lists the same modules as the CycloneDX SBOM.
	var pkgs []map[string]any
	for i, c := range cdx.Components {
		pkgs = append(pkgs, map[string]any{"SPDXID": fmt.Sprintf("SPDXRef-Package-%d", i), "name": c.Name, "versionInfo": c.Version,
			"downloadLocation": "NOASSERTION", "licenseConcluded": "NOASSERTION"})
	}
	for n, v := range map[string]any{
		"prov02": map[string]any{
			"builder":    map[string]any{"id": ciBuilder},
			"buildType":  "https://ci.example/build/v1",
			"invocation": map[string]any{"configSource": map[string]any{"uri": "git+https://git.example/acme/app", "digest": map[string]any{"sha1": strings.Repeat("a", 40)}, "entryPoint": "ci.yaml"}},
			"metadata":   map[string]any{"buildFinishedOn": now.Format(time.RFC3339), "completeness": map[string]any{"parameters": true}},
			"materials":  []any{map[string]any{"uri": "git+https://git.example/acme/app", "digest": map[string]any{"sha1": strings.Repeat("a", 40)}}},
		},
		"prov1":       provenanceV1(ciBuilder),
		"prov1-other": provenanceV1(otherBuilder),
		"spdx": map[string]any{
			"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": "signet",
			"documentNamespace": "https://example.com/spdx/signet-1",
			"creationInfo":      map[string]any{"created": now.Format(time.RFC3339), "creators": []any{"Tool: signet-interop"}},
			"packages":          pkgs,
		},
		"vuln":          vulnScan(0, now.Add(-time.Hour)),
		"vuln-critical": vulnScan(3, now.Add(-time.Hour)),
		"vuln-stale":    vulnScan(0, now.Add(-30*24*time.Hour)),
		"vex": map[string]any{
			"@context": "https://openvex.dev/ns/v0.2.0", "@id": "https://example.com/vex/1", "author": "security@example.com",
			"timestamp": now.Format(time.RFC3339), "version": 1,
			"statements": []any{map[string]any{
				"vulnerability": map[string]any{"name": "CVE-2024-0001"}, "products": []any{map[string]any{"@id": "pkg:oci/app"}},
				"status": "not_affected", "justification": "vulnerable_code_not_in_execute_path",
			}},
		},
		"custom": map[string]any{"approved": true, "reviewer": "alice"},
	} {
		b, _ := json.Marshal(v)
		if err := os.WriteFile(p.path(n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (p *predicates) path(n string) string {
	if n == "sbom" {
		return p.sbom
	}
	return filepath.Join(p.dir, n+".json")
}

// cosignType is cosign's --type for a predicate of writePredicates.
func cosignType(n string) string {
	switch n, _, _ = strings.Cut(n, "-"); n {
	case "prov02":
		return "slsaprovenance02"
	case "prov1":
		return "slsaprovenance1"
	case "sbom":
		return "cyclonedx"
	case "spdx":
		return "spdxjson"
	case "vex":
		return "openvex"
	case "custom":
		return customType
	}
	return n
}

func provenanceV1(builder string) map[string]any {
	return map[string]any{
		"buildDefinition": map[string]any{
			"buildType":          "https://ci.example/build/v1",
			"externalParameters": map[string]any{"repository": "https://git.example/acme/app", "ref": "refs/heads/main"},
		},
		"runDetails": map[string]any{"builder": map[string]any{"id": builder}},
	}
}

// vulnScan is the predicate of cosign's --type vuln (its CosignVulnPredicate).
func vulnScan(critical int, finished time.Time) map[string]any {
	return map[string]any{
		"invocation": map[string]any{"uri": "https://ci.example/runs/1", "event_id": "1", "builder.id": "trivy"},
		"scanner": map[string]any{
			"uri": "pkg:github/aquasecurity/trivy@0.58.0", "version": "0.58.0",
			"db":     map[string]any{"uri": "pkg:github/aquasecurity/trivy-db", "version": "2"},
			"result": map[string]any{"summary": map[string]any{"critical": critical, "high": 1}},
		},
		"metadata": map[string]any{"scanStartedOn": finished.Add(-time.Minute).Format(time.RFC3339), "scanFinishedOn": finished.Format(time.RFC3339)},
	}
}

// attTag is cosign's legacy attestation tag of img.
func attTag(img name.Digest) name.Tag {
	return img.Context().Tag(strings.Replace(img.DigestStr(), ":", "-", 1) + ".att")
}

// statement is one in-toto statement attached to an image, as stored.
type statement struct {
	Digest        string // sha256 of the statement
	PredicateType string
	Predicate     map[string]any
}

// storedStatements reads the statements attached to img under its .att tag
// and as Sigstore bundle referrers, without verifying anything: what the
// verifier's output is compared with.
func storedStatements(t *testing.T, img name.Digest) []statement {
	t.Helper()
	var out []statement
	add := func(payload []byte) {
		var st statement
		if err := json.Unmarshal(payload, &struct {
			PredicateType *string         `json:"predicateType"`
			Predicate     *map[string]any `json:"predicate"`
		}{&st.PredicateType, &st.Predicate}); err != nil {
			t.Fatalf("statement: %v", err)
		}
		sum := sha256.Sum256(payload)
		st.Digest = "sha256:" + hex.EncodeToString(sum[:])
		out = append(out, st)
	}
	if att, err := remote.Image(attTag(img)); err == nil {
		layers, err := att.Layers()
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range layers {
			var env struct{ Payload []byte }
			if err := json.Unmarshal(layerBytes(t, l), &env); err != nil {
				t.Fatal(err)
			}
			add(env.Payload)
		}
	}
	for _, b := range bundleReferrers(t, img) {
		add(b.payload(t))
	}
	return out
}

// bundleRef is a Sigstore bundle referrer of an image.
type bundleRef struct {
	digest   v1.Hash
	manifest map[string]any
	bundle   map[string]any
}

func (b bundleRef) payload(t *testing.T) []byte {
	t.Helper()
	env := b.bundle["dsseEnvelope"].(map[string]any)
	p, err := base64.StdEncoding.DecodeString(env["payload"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// bundleReferrers lists img's Sigstore bundle referrers (referrers API or
// tag schema, as go-containerregistry finds them).
func bundleReferrers(t *testing.T, img name.Digest) []bundleRef {
	t.Helper()
	var out []bundleRef
	for _, desc := range harness.Referrers(t, img) {
		got, err := remote.Get(img.Context().Digest(desc.Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		var typed struct{ Layers []v1.Descriptor }
		if json.Unmarshal(got.Manifest, &m) != nil || json.Unmarshal(got.Manifest, &typed) != nil || len(typed.Layers) != 1 || typed.Layers[0].MediaType != bundleMediaType {
			continue
		}
		l, err := remote.Layer(img.Context().Digest(typed.Layers[0].Digest.String()))
		if err != nil {
			t.Fatal(err)
		}
		var b map[string]any
		if err := json.Unmarshal(layerBytes(t, l), &b); err != nil {
			t.Fatal(err)
		}
		if _, ok := b["dsseEnvelope"]; ok {
			out = append(out, bundleRef{desc.Digest, m, b})
		}
	}
	return out
}

// tamperAttestations rewrites the statement of every attestation of img
// with f and stores the result in place of the original: the .att layers
// keep their signatures, the bundles their verification material. This is
// the only hand-made envelope of the suite.
func tamperAttestations(t *testing.T, img name.Digest, f func([]byte) []byte) {
	t.Helper()
	if att, err := remote.Image(attTag(img)); err == nil {
		m, err := att.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		layers, _ := att.Layers()
		out := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
		for i, l := range layers {
			var env map[string]any
			if err := json.Unmarshal(layerBytes(t, l), &env); err != nil {
				t.Fatal(err)
			}
			p, _ := base64.StdEncoding.DecodeString(env["payload"].(string))
			env["payload"] = base64.StdEncoding.EncodeToString(f(p))
			nb, _ := json.Marshal(env)
			out, err = mutate.Append(out, mutate.Addendum{Layer: static.NewLayer(nb, m.Layers[i].MediaType), Annotations: maps.Clone(m.Layers[i].Annotations)})
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := remote.Write(attTag(img), out); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range bundleReferrers(t, img) {
		b.bundle["dsseEnvelope"].(map[string]any)["payload"] = base64.StdEncoding.EncodeToString(f(b.payload(t)))
		nb, _ := json.Marshal(b.bundle)
		replaceReferrer(t, img, img, b, nb)
		if err := remote.Delete(img.Context().Digest(b.digest.String())); err != nil {
			t.Fatal(err)
		}
	}
}

// replaceReferrer pushes a copy of referrer b whose subject is subject and,
// when layer is not nil, whose bundle is layer.
func replaceReferrer(t *testing.T, img, subject name.Digest, b bundleRef, layer []byte) {
	t.Helper()
	repo := img.Context()
	m := b.manifest
	if layer != nil {
		nl := static.NewLayer(layer, bundleMediaType)
		if err := remote.WriteLayer(repo, nl); err != nil {
			t.Fatal(err)
		}
		d, _ := nl.Digest()
		l := m["layers"].([]any)[0].(map[string]any)
		l["digest"], l["size"] = d.String(), len(layer)
	}
	if subject != img {
		desc, err := remote.Head(subject)
		if err != nil {
			t.Fatal(err)
		}
		m["subject"] = map[string]any{"mediaType": desc.MediaType, "digest": desc.Digest.String(), "size": desc.Size}
	}
	raw, _ := json.Marshal(m)
	h, _, _ := v1.SHA256(bytes.NewReader(raw))
	if err := remote.Put(repo.Digest(h.String()), harness.RawManifest(raw)); err != nil {
		t.Fatal(err)
	}
}

// copyAttestations copies every attestation of from to to, as an attacker
// with push rights could: the .att manifest under to's .att tag, each
// bundle referrer as a referrer of to.
func copyAttestations(t *testing.T, from, to name.Digest) {
	t.Helper()
	if att, err := remote.Image(attTag(from)); err == nil {
		if err := remote.Write(attTag(to), att); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range bundleReferrers(t, from) {
		replaceReferrer(t, from, to, b, nil)
	}
}

func layerBytes(t *testing.T, l v1.Layer) []byte {
	t.Helper()
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

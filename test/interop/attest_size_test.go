package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
	"github.com/signet-dev/signet/test/harness"
)

// largeSBOM writes the real SBOM of the signet binary grown to at least
// size bytes by repeating its components under other names.
func largeSBOM(t *testing.T, size int) string {
	t.Helper()
	raw, err := os.ReadFile(realSBOM(t))
	if err != nil {
		t.Fatal(err)
	}
	var bom map[string]any
	if err := json.Unmarshal(raw, &bom); err != nil {
		t.Fatal(err)
	}
	orig := bom["components"].([]any)
	comps := append([]any(nil), orig...)
	for n := len(raw); n < size; {
		for _, c := range orig {
			cp := map[string]any{}
			for k, v := range c.(map[string]any) {
				cp[k] = v
			}
			cp["name"] = fmt.Sprintf("%s/copy%d", cp["name"], len(comps))
			cp["bom-ref"] = fmt.Sprintf("%s-%d", cp["bom-ref"], len(comps))
			b, _ := json.Marshal(cp)
			n += len(b) + 1
			comps = append(comps, cp)
		}
	}
	bom["components"] = comps
	b, _ := json.Marshal(bom)
	p := filepath.Join(t.TempDir(), "large.cdx.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("SBOM of %.1f MiB, %d components", float64(len(b))/(1<<20), len(comps))
	return p
}

// measured runs signet verify on img under /usr/bin/time and returns its
// exit code, JSON output and peak RSS in bytes. The rusage of a child
// this process starts would count this process's own memory (Go starts
// children with vfork, and the kernel keeps the larger high-water mark
// at exec); time's child is forked from time.
func measured(t *testing.T, policyYAML string, img name.Digest) (int, string, int64) {
	t.Helper()
	harness.NeedApt(t, "/usr/bin/time=time")
	cmd := exec.Command("/usr/bin/time", "-v", harness.Bin(t, "signet"), "verify", "--policy", writePolicy(t, policyYAML, img.String()), "--output", "json", "--timeout", "60s", img.String())
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
	code, out, se := harness.ExitCode(t, cmd)
	var kib int64
	for _, line := range strings.Split(se, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Maximum resident set size (kbytes): "); ok {
			kib, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if code != 0 && code != 1 || kib == 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, se)
	}
	return code, out, kib << 10
}

// TestAttestationSize: a 50 MiB SBOM attested by the real cosign (legacy
// .att and v3 bundle) is read and its conditions evaluated within the
// memory bound of docs/security.md; an envelope declared larger than
// cosign.MaxAttestationBytes, or a blob larger than its descriptor says, is
// refused with a one-line reason before it is read.
func TestAttestationSize(t *testing.T) {
	t.Parallel()
	reg := harness.StartReferrersRegistry(t)
	h := reg.Host
	big := largeSBOM(t, 50<<20)
	v2 := newAttestor(t, attestFormats[0])
	v3 := newAttestor(t, attestFormats[1])
	key, pub := v2.c.GenKey(t, v2.bin, "ci")
	push := func(tag string) name.Digest { return harness.Push(t, h, "demo/sbom:"+tag) }
	small, legacy, bundle, declared, lying := push("small"), push("legacy"), push("bundle"), push("declared"), push("lying")
	sbom := realSBOM(t)
	runImages(t,
		[]step{func() error { return v2.sign(key, small) }, func() error { return v2.attest(key, sbom, "cyclonedx", small) }},
		[]step{func() error { return v2.sign(key, legacy) }, func() error { return v2.attest(key, big, "cyclonedx", legacy) }},
		[]step{func() error { return v3.sign(key, bundle) }, func() error { return v3.attest(key, big, "cyclonedx", bundle) }},
		[]step{func() error { return v2.sign(key, declared) }},
		[]step{func() error { return v2.sign(key, lying) }},
	)
	p := attestationPolicy(h+"/**", pub, requirement{name: "sbom", typ: "cyclonedx", conditions: [][2]string{
		{`predicate.metadata.component.name == "github.com/signet-dev/signet"`, "an SBOM of signet"},
		{`predicate.components.size() > 100 && predicate.components.exists(c, c.name == "github.com/google/go-containerregistry")`, "lists go-containerregistry"},
	}})

	code, _, base := measured(t, p, small)
	if code != 0 {
		t.Fatalf("small SBOM: exit %d", code)
	}
	t.Logf("peak RSS, real SBOM (%s): %.1f MiB", small.DigestStr()[:15], mib(base))
	for _, img := range []name.Digest{legacy, bundle} {
		envelope := envelopeSize(t, img)
		code, out, rss := measured(t, p, img)
		if code != 0 {
			t.Fatalf("50 MiB SBOM: exit %d\n%s", code, out)
		}
		// docs/security.md: an envelope of n bytes costs at most 4n of
		// live heap while it is read, verified and evaluated, and with
		// signet's GOGC=200 at most 8n of RSS.
		bound := base + 8*envelope
		t.Logf("peak RSS, envelope of %.1f MiB (%s): %.1f MiB (bound %.1f MiB)", mib(envelope), img.DigestStr()[:15], mib(rss), mib(bound))
		if rss > bound {
			t.Errorf("peak RSS %.1f MiB over the bound %.1f MiB", mib(rss), mib(bound))
		}
	}

	// The legacy .att manifest of the large SBOM, re-pushed for other
	// images with its layer's size rewritten: 5 GiB, and 4 KiB for a
	// blob of some 67 MiB.
	att, err := remote.Get(attTag(legacy))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		img    name.Digest
		size   int64
		reason string
	}{
		{declared, 5 << 30, fmt.Sprintf("attestation envelope of %d bytes is over signet's limit of %d bytes", int64(5<<30), cosign.MaxAttestationBytes)},
		{lying, 4 << 10, "over signet's limit of 4096 bytes for a blob"},
	} {
		var m map[string]any
		if err := json.Unmarshal(att.Manifest, &m); err != nil {
			t.Fatal(err)
		}
		m["layers"].([]any)[0].(map[string]any)["size"] = tc.size
		raw, _ := json.Marshal(m)
		if err := remote.Put(attTag(tc.img), harness.RawManifest(raw)); err != nil {
			t.Fatal(err)
		}
		code, out, rss := measured(t, p, tc.img)
		var ds []struct {
			Outcome      verify.Outcome
			Attestations []verify.AttestationResult
		}
		if err := json.Unmarshal([]byte(out), &ds); err != nil || len(ds) != 1 || len(ds[0].Attestations) != 1 {
			t.Fatalf("exit %d: %v\n%s", code, err, out)
		}
		r := ds[0].Attestations[0]
		t.Logf("declared %d bytes: exit %d, peak RSS %.1f MiB: %s", tc.size, code, mib(rss), r.Reason)
		if code == 0 || r.Outcome == verify.Verified || !strings.Contains(r.Reason, tc.reason) || strings.Contains(r.Reason, "\n") {
			t.Errorf("exit %d, %s: %s; want denied, one line with %q", code, r.Outcome, r.Reason, tc.reason)
		}
		// Nothing like the blob was read.
		if rss > base+16<<20 {
			t.Errorf("peak RSS %.1f MiB, %.1f MiB over the baseline", mib(rss), mib(rss-base))
		}
	}
}

// envelopeSize is the size of img's attestation envelope as stored: the
// .att layer or the bundle.
func envelopeSize(t *testing.T, img name.Digest) int64 {
	t.Helper()
	if att, err := remote.Image(attTag(img)); err == nil {
		m, err := att.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		return m.Layers[0].Size
	}
	for _, b := range bundleReferrers(t, img) {
		if b.bundle["dsseEnvelope"] != nil && strings.Contains(string(b.payload(t)), "cyclonedx") {
			l := b.manifest["layers"].([]any)[0].(map[string]any)
			return int64(l["size"].(float64))
		}
	}
	t.Fatalf("%s has no attestation", img)
	return 0
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

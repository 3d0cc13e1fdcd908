package interop

import (
	"encoding/base64"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

func one(t *testing.T, ds []policy.Decision) policy.Decision {
	t.Helper()
	if len(ds) != 1 {
		t.Fatalf("got %d decisions, want 1", len(ds))
	}
	return ds[0]
}

func expect(t *testing.T, code int, d policy.Decision, stderr string, wantCode int, wantOutcome verify.Outcome, wantDigest string) {
	t.Helper()
	if code != wantCode || d.Outcome != wantOutcome {
		t.Fatalf("exit %d outcome %s, want exit %d outcome %s\nreason: %s\nchecks: %+v\nstderr: %s", code, d.Outcome, wantCode, wantOutcome, d.Reason, d.Checks, stderr)
	}
	if wantDigest != "" && d.Digest != wantDigest {
		t.Errorf("digest %s, want %s", d.Digest, wantDigest)
	}
	if d.Allowed != (wantCode == 0) {
		t.Errorf("allowed = %v with exit %d", d.Allowed, code)
	}
}

// TestCosignV2Legacy covers legacy ".sig" signatures made by cosign v2 in a
// distribution registry.
func TestCosignV2Legacy(t *testing.T) {
	t.Parallel()
	reg := harness.StartDistribution(t)
	c := harness.NewCosign(t)
	bin := harness.Tool(t, "cosign2")
	k1, pub1 := c.GenKey(t, bin, "k1")
	k2, pub2 := c.GenKey(t, bin, "k2")
	h := reg.Host
	p := cosignPolicy(h+"/**", map[string]string{"k1": pub1}, "")

	signed := harness.Push(t, h, "demo/app:signed")
	c.SignV2(t, k1, signed)
	unsigned := harness.Push(t, h, "demo/app:unsigned")
	other := harness.Push(t, h, "demo/app:other-key")
	c.SignV2(t, k2, other)

	t.Run("signed is allowed and pinned to the signed digest", func(t *testing.T) {
		code, ds, se := signet(t, p, h+"/demo/app:signed")
		d := one(t, ds)
		expect(t, code, d, se, 0, verify.Verified, signed.DigestStr())
		if d.Pinned != h+"/demo/app@"+signed.DigestStr() {
			t.Errorf("pinned = %s", d.Pinned)
		}
	})
	t.Run("unsigned is denied", func(t *testing.T) {
		code, ds, se := signet(t, p, h+"/demo/app:unsigned")
		d := one(t, ds)
		expect(t, code, d, se, 1, verify.Failed, unsigned.DigestStr())
		if !strings.Contains(d.Reason, "no cosign signatures found") {
			t.Errorf("reason: %s", d.Reason)
		}
	})
	t.Run("signed by another key is denied", func(t *testing.T) {
		code, ds, se := signet(t, p, h+"/demo/app:other-key")
		expect(t, code, one(t, ds), se, 1, verify.Failed, other.DigestStr())
	})
	t.Run("tag moved to new content after signing is denied", func(t *testing.T) {
		first := harness.Push(t, h, "demo/moving:v1")
		c.SignV2(t, k1, first)
		now := harness.Push(t, h, "demo/moving:v1")
		code, ds, se := signet(t, p, h+"/demo/moving:v1")
		expect(t, code, one(t, ds), se, 1, verify.Failed, now.DigestStr())
		// The old digest is still signed, by digest.
		code, ds, se = signet(t, p, first.String())
		expect(t, code, one(t, ds), se, 0, verify.Verified, first.DigestStr())
	})
	t.Run("signature copied onto another image is denied", func(t *testing.T) {
		victim := harness.Push(t, h, "demo/copy:victim")
		sigs, err := remote.Image(sigTag(signed))
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(sigTag(victim), sigs); err != nil {
			t.Fatal(err)
		}
		code, ds, se := signet(t, p, h+"/demo/copy:victim")
		d := one(t, ds)
		expect(t, code, d, se, 1, verify.Failed, victim.DigestStr())
		if !strings.Contains(d.Checks[0].Reason, "signs another image") {
			t.Errorf("check reason: %s", d.Checks[0].Reason)
		}
	})
	t.Run("tampered signature is denied", func(t *testing.T) {
		img := harness.Push(t, h, "demo/tamper:sig")
		c.SignV2(t, k1, img)
		tamper(t, img, func(payload []byte, sig string) ([]byte, string) {
			raw, _ := base64.StdEncoding.DecodeString(sig)
			raw[len(raw)-2] ^= 0xff
			return payload, base64.StdEncoding.EncodeToString(raw)
		})
		code, ds, se := signet(t, p, img.String())
		expect(t, code, one(t, ds), se, 1, verify.Failed, img.DigestStr())
	})
	t.Run("tampered payload is denied", func(t *testing.T) {
		img := harness.Push(t, h, "demo/tamper:payload")
		c.SignV2(t, k1, img)
		tamper(t, img, func(payload []byte, sig string) ([]byte, string) {
			return []byte(strings.Replace(string(payload), `"optional":null`, `"optional":{"x":"y"}`, 1)), sig
		})
		code, ds, se := signet(t, p, img.String())
		expect(t, code, one(t, ds), se, 1, verify.Failed, img.DigestStr())
	})
	t.Run("threshold 2 of 2", func(t *testing.T) {
		p2 := cosignPolicy(h+"/**", map[string]string{"k1": pub1, "k2": pub2}, `{trustRoot: "*", threshold: 2}`)
		img := harness.Push(t, h, "demo/quorum:v1")
		c.SignV2(t, k1, img)
		code, ds, se := signet(t, p2, img.String())
		d := one(t, ds)
		expect(t, code, d, se, 1, verify.Failed, img.DigestStr())
		if !strings.Contains(d.Reason, "1 of 2 required") {
			t.Errorf("reason: %s", d.Reason)
		}
		c.SignV2(t, k2, img)
		code, ds, se = signet(t, p2, img.String())
		d = one(t, ds)
		expect(t, code, d, se, 0, verify.Verified, img.DigestStr())
		if strings.Join(d.Signers, ",") != "k1,k2" {
			t.Errorf("signers = %v", d.Signers)
		}
	})
	t.Run("cosign v2 new bundle format via the referrers tag schema", func(t *testing.T) {
		img := harness.Push(t, h, "demo/bundle2:v1")
		c.SignV2(t, k1, img, "--new-bundle-format")
		code, ds, se := signet(t, p, img.String())
		d := one(t, ds)
		expect(t, code, d, se, 0, verify.Verified, img.DigestStr())
		if !strings.Contains(d.Checks[len(d.Checks)-1].Signature, "referrer") {
			t.Errorf("verified by %+v, want a referrer", d.Checks)
		}
	})
	t.Run("several images at once", func(t *testing.T) {
		code, ds, _ := signet(t, p, h+"/demo/app:signed", h+"/demo/app:unsigned")
		if code != 1 || len(ds) != 2 || !ds[0].Allowed || ds[1].Allowed {
			t.Fatalf("exit %d, decisions %+v", code, ds)
		}
	})
}

// TestCosignV3Bundle covers cosign v3's default: a Sigstore bundle stored as
// an OCI 1.1 referrer, through the referrers API and the tag schema.
func TestCosignV3Bundle(t *testing.T) {
	t.Parallel()
	bin := harness.Tool(t, "cosign3")
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *harness.Proc
	}{
		{"referrers API", harness.StartReferrersRegistry},
		{"referrers tag schema", harness.StartDistribution},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := tc.start(t)
			c := harness.NewCosign(t)
			k1, pub1 := c.GenKey(t, bin, "k1")
			_, pub2 := c.GenKey(t, bin, "k2")
			img := harness.Push(t, reg.Host, "demo/v3:v1")
			c.SignV3(t, k1, img)

			code, ds, se := signet(t, cosignPolicy(reg.Host+"/**", map[string]string{"k1": pub1}, ""), reg.Host+"/demo/v3:v1")
			expect(t, code, one(t, ds), se, 0, verify.Verified, img.DigestStr())

			code, ds, se = signet(t, cosignPolicy(reg.Host+"/**", map[string]string{"k2": pub2}, ""), reg.Host+"/demo/v3:v1")
			expect(t, code, one(t, ds), se, 1, verify.Failed, img.DigestStr())
		})
	}
	// cosign v3 can still write legacy signatures; a quorum may mix a v3
	// legacy signature and a v3 bundle by different keys.
	t.Run("v3 legacy signature and bundle combine in a quorum", func(t *testing.T) {
		t.Parallel()
		reg := harness.StartReferrersRegistry(t)
		c := harness.NewCosign(t)
		k1, pub1 := c.GenKey(t, bin, "k1")
		k2, pub2 := c.GenKey(t, bin, "k2")
		img := harness.Push(t, reg.Host, "demo/mixed:v1")
		c.Run(t, bin, "sign", "--yes", "--key", k1, "--new-bundle-format=false", "--use-signing-config=false",
			"--tlog-upload=false", "--allow-insecure-registry", "--allow-http-registry", img.String())
		p := cosignPolicy(reg.Host+"/**", map[string]string{"k1": pub1, "k2": pub2}, `{trustRoot: "*", threshold: 2}`)
		code, ds, se := signet(t, p, img.String())
		expect(t, code, one(t, ds), se, 1, verify.Failed, img.DigestStr())
		c.SignV3(t, k2, img)
		code, ds, se = signet(t, p, img.String())
		d := one(t, ds)
		expect(t, code, d, se, 0, verify.Verified, img.DigestStr())
		if strings.Join(d.Signers, ",") != "k1,k2" {
			t.Errorf("signers = %v", d.Signers)
		}
	})
}

// TestRegistryDown: a registry that stops answering yields inconclusive
// (exit 3) within the deadline, never allowed and never "failed".
func TestRegistryDown(t *testing.T) {
	t.Parallel()
	reg := harness.StartDistribution(t)
	c := harness.NewCosign(t)
	k1, pub1 := c.GenKey(t, harness.Tool(t, "cosign2"), "k1")
	img := harness.Push(t, reg.Host, "demo/app:v1")
	c.SignV2(t, k1, img)
	reg.Stop()
	harness.Bin(t, "signet") // built before the clock starts: a cold build is not signet's latency
	start := time.Now()
	code, ds, se := signet(t, cosignPolicy(reg.Host+"/**", map[string]string{"k1": pub1}, ""), "--timeout", "3s", reg.Host+"/demo/app:v1")
	d := one(t, ds)
	expect(t, code, d, se, 3, verify.Inconclusive, "")
	if el := time.Since(start); el > 8*time.Second {
		t.Errorf("took %s with --timeout 3s", el)
	}
	if !strings.Contains(d.Reason, reg.Host) {
		t.Errorf("reason does not name the registry: %s", d.Reason)
	}
}

func sigTag(img name.Digest) name.Tag {
	return img.Context().Tag(strings.Replace(img.DigestStr(), ":", "-", 1) + ".sig")
}

// tamper replaces img's .sig manifest with one whose only layer is the
// first signature, rewritten by f.
func tamper(t *testing.T, img name.Digest, f func(payload []byte, sig string) ([]byte, string)) {
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
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	payload, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	ann := maps.Clone(m.Layers[0].Annotations)
	payload, ann["dev.cosignproject.cosign/signature"] = f(payload, ann["dev.cosignproject.cosign/signature"])
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	out, err := mutate.Append(base, mutate.Addendum{Layer: static.NewLayer(payload, m.Layers[0].MediaType), Annotations: ann})
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(sigTag(img), out); err != nil {
		t.Fatal(err)
	}
}

package interop

import (
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

// TestVerifyReference: a signature made by the real cosign CLIs for one
// repository and copied with `cosign copy` to another at the same digest
// verifies there by default (cosign's own behaviour) and is denied under
// with.verifyReference, unless the repository it names is accepted.
func TestVerifyReference(t *testing.T) {
	t.Parallel()
	reg := harness.StartDistribution(t)
	c := harness.NewCosign(t)
	bin2, bin3 := harness.Tool(t, "cosign2"), harness.Tool(t, "cosign3")
	k1, pub1 := c.GenKey(t, bin2, "k1")
	h := reg.Host
	keys := map[string]string{"k1": pub1}
	insecure := []string{"--allow-insecure-registry", "--allow-http-registry"}

	dev := harness.Push(t, h, "dev/debug-shell:v1")
	c.SignV2(t, k1, dev)
	c.Run(t, bin2, append([]string{"copy", "--force"}, append(insecure, dev.String(), h+"/prod/app:v1")...)...)
	prod := h + "/prod/app@" + dev.DigestStr()

	// A release pipeline that signs in a build repository for the name
	// the image is pulled by (cosign sign --sign-container-identity).
	build := harness.Push(t, h, "build/app:v2")
	c.SignV2(t, k1, build, "--sign-container-identity", h+"/prod/app")
	c.Run(t, bin2, append([]string{"copy", "--force"}, append(insecure, build.String(), h+"/prod/app:v2")...)...)

	// cosign v3: a legacy signature names the repository, a bundle does
	// not.
	v3legacy := harness.Push(t, h, "prod/v3:legacy")
	c.Run(t, bin3, append([]string{"sign", "--yes", "--key", k1, "--new-bundle-format=false", "--use-signing-config=false", "--tlog-upload=false"}, append(insecure, v3legacy.String())...)...)
	v3bundle := harness.Push(t, h, "prod/v3:bundle")
	c.SignV3(t, k1, v3bundle)

	for _, tc := range []struct {
		name, image, with string
		code              int
		outcome           verify.Outcome
		checkHas          string
	}{
		{"copied signature, default: cosign does not compare", prod, "", 0, verify.Verified, ""},
		{"copied signature, verifyReference", prod, "{verifyReference: true}", 1, verify.Failed, "/dev/debug-shell, not " + h + "/prod/app (verifyReference)"},
		{"copied signature, its repository accepted", prod, `{verifyReference: true, acceptedReferences: ["` + h + `/dev/*"]}`, 0, verify.Verified, ""},
		{"signed for the pull name in a build repository", h + "/prod/app:v2", "{verifyReference: true}", 0, verify.Verified, ""},
		{"signed for the pull name, at the build repository", build.String(), "{verifyReference: true}", 1, verify.Failed, "/prod/app, not " + h + "/build/app"},
		{"original repository", dev.String(), "{verifyReference: true}", 0, verify.Verified, ""},
		{"cosign v3 legacy signature", v3legacy.String(), "{verifyReference: true}", 0, verify.Verified, ""},
		{"cosign v3 bundle names no repository", v3bundle.String(), "{verifyReference: true}", 1, verify.Failed, "names no repository"},
		{"cosign v3 bundle, default", v3bundle.String(), "", 0, verify.Verified, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, ds, se := signet(t, cosignPolicy(h+"/**", keys, tc.with), tc.image)
			d := one(t, ds)
			expect(t, code, d, se, tc.code, tc.outcome, "")
			if tc.checkHas == "" {
				return
			}
			for _, c := range d.Checks {
				if strings.Contains(c.Reason, tc.checkHas) {
					return
				}
			}
			t.Errorf("no check mentions %q: %+v", tc.checkHas, d.Checks)
		})
	}
}

package keyless

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

// TestReleaseKeyless runs make release (hack/release.sh) keyless against
// the private Sigstore stack: an OIDC token in SIGSTORE_ID_TOKEN, the
// stack's Fulcio, Rekor and timestamp authority in the COSIGN_… variables
// cosign reads itself. signet, with a keyless policy naming the stack's
// trusted root and the token's issuer and subject, admits the released
// image and denies the same index copied unsigned and another identity;
// the pinned cosign verifies the provenance and SBOM attestations and the
// chart's signature keylessly. A bad token fails before anything is
// pushed.
func TestReleaseKeyless(t *testing.T) {
	s := harness.StartSigstore(t)
	reg := harness.StartDistribution(t)
	c := newCosign(t, s)
	const version = "v0.0.0-keyless"
	env := []string{"IMAGE_REPO=" + reg.Host + "/signet", "VERSION=" + version, "COSIGN_KEY=",
		"COSIGN_TLOG=true", "COSIGN_FULCIO_URL=" + s.FulcioURL, "COSIGN_REKOR_URL=" + s.RekorURL,
		"COSIGN_TIMESTAMP_SERVER_URL=" + s.TSAURL}

	t.Run("bad input fails before anything is pushed", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			env  []string
			want string
		}{
			{"token Fulcio rejects", []string{"SIGSTORE_ID_TOKEN=not-a-token"}, "getting a signing certificate from Fulcio failed"},
			{"no transparency log, no timestamp authority", []string{"SIGSTORE_ID_TOKEN=" + s.Token(t, alice), "COSIGN_TLOG=false", "COSIGN_TIMESTAMP_SERVER_URL="},
				"keyless signing without the transparency log needs a timestamp authority"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code, stdout, stderr := harness.Release(t, c, append(env, tc.env...)...)
				if code == 0 || stdout != "" {
					t.Fatalf("exit %d, stdout %q", code, stdout)
				}
				if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "release: ") || !strings.Contains(stderr, tc.want) {
					t.Errorf("stderr %q, want one line naming %q", stderr, tc.want)
				}
				t.Log(strings.TrimSpace(stderr))
				repo, _ := name.NewRepository(reg.Host + "/signet")
				if tags, err := remote.List(repo); err == nil && len(tags) != 0 {
					t.Errorf("pushed %v", tags)
				}
			})
		}
	})

	code, stdout, stderr := harness.Release(t, c, append(env, "SIGSTORE_ID_TOKEN="+s.Token(t, alice))...)
	if code != 0 {
		t.Fatalf("release: exit %d\n%s", code, stderr)
	}
	ref, err := name.NewDigest(strings.TrimSpace(stdout))
	if err != nil {
		t.Fatalf("release printed %q: %v", stdout, err)
	}
	t.Logf("released %s; %s", ref, strings.TrimSpace(stderr))

	t.Run("signed release is admitted", func(t *testing.T) {
		expect(t, keylessPolicy(s, exact(s, alice), ""), ref.String(), ref.DigestStr(), 0, verify.Verified)
		expect(t, keylessPolicy(s, exact(s, alice), ""), reg.Host+"/signet:"+version, ref.DigestStr(), 0, verify.Verified)
	})
	t.Run("another identity is denied", func(t *testing.T) {
		expect(t, keylessPolicy(s, exact(s, bob), ""), ref.String(), ref.DigestStr(), 1, verify.Failed)
	})
	t.Run("same index copied unsigned is denied", func(t *testing.T) {
		copied := harness.CopyIndex(t, ref, reg.Host+"/mirror/signet:"+version)
		d := expect(t, keylessPolicy(s, exact(s, alice), ""), copied.String(), ref.DigestStr(), 1, verify.Failed)
		if !strings.Contains(d.Reason, "no cosign signatures found") {
			t.Errorf("reason %q, want no cosign signatures found", d.Reason)
		}
	})

	keyless := []string{"--certificate-identity", alice, "--certificate-oidc-issuer", s.Issuer(),
		"--rekor-url", s.RekorURL, "--allow-insecure-registry", "--allow-http-registry"}
	cosign := harness.Tool(t, "cosign2")
	t.Run("attestations verify keyless", func(t *testing.T) {
		// statement verifies img's attestation of typ as alice and returns
		// its in-toto statement.
		statement := func(typ string, img name.Digest) string {
			out := c.Run(t, cosign, append(append([]string{"verify-attestation", "--type", typ}, keyless...), img.String())...)
			return string(harness.AttestationPayload(t, out))
		}
		if st := statement("slsaprovenance1", ref); !strings.Contains(st, `"predicateType":"https://slsa.dev/provenance/v1"`) ||
			!strings.Contains(st, ref.DigestStr()[len("sha256:"):]) {
			t.Errorf("provenance statement:\n%s", st)
		}
		for _, d := range harness.Platforms(t, ref) {
			if st := statement("cyclonedx", d); !strings.Contains(st, `"bomFormat":"CycloneDX"`) {
				t.Errorf("%s: SBOM statement lacks CycloneDX", d.DigestStr())
			}
		}
		// Bob's identity does not verify them.
		bobArgs := append([]string{"verify-attestation", "--type", "slsaprovenance1"}, keyless...)
		bobArgs[4] = bob
		if _, err := c.Try(cosign, append(bobArgs, ref.String())...); err == nil {
			t.Error("the provenance verifies as bob")
		}
	})
	t.Run("chart signed keyless", func(t *testing.T) {
		prefix := "release: chart oci://" + reg.Host + "/charts/signet:" + strings.TrimPrefix(version, "v") + "@"
		if !strings.HasPrefix(stderr, prefix) {
			t.Fatalf("stderr %q, want %q…", stderr, prefix)
		}
		chart := reg.Host + "/charts/signet@" + strings.TrimSpace(strings.TrimPrefix(stderr, prefix))
		c.Run(t, cosign, append(append([]string{"verify"}, keyless...), chart)...)
	})
}

package keyless

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/signet-dev/signet/test/harness"
)

// testSigstoreGo checks the stack's trusted-root.json with the library
// signet verifies keyless signatures with: sigstore-go reads it
// (root.NewTrustedRootFromPath) and verifies a cosign v3 bundle against it
// — Rekor entry, integrated timestamp, RFC 3161 timestamp, Fulcio chain,
// identity — without a CT log. It pins the contract the stack offers the
// verifier, independently of signet.
func testSigstoreGo(t *testing.T, s *harness.Sigstore) {
	tr, err := root.NewTrustedRootFromPath(s.TrustedRootFile)
	if err != nil {
		t.Fatalf("sigstore-go cannot read %s: %v", s.TrustedRootFile, err)
	}
	reg := harness.StartReferrersRegistry(t)
	c := newCosign(t, s)
	img := harness.Push(t, reg.Host, "demo/sigstore-go:v1")
	c.Run(t, harness.Tool(t, "cosign3"), "sign", "--yes", "--signing-config", s.SigningConfig(t, true, true),
		"--trusted-root", s.TrustedRootFile, "--identity-token", s.Token(t, alice),
		"--allow-insecure-registry", "--allow-http-registry", img.String())

	_, manifest := findBundle(t, img)
	layer := manifest["layers"].([]any)[0].(map[string]any)
	blob, err := remote.Layer(img.Context().Digest(layer["digest"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	var b bundle.Bundle
	if err := json.Unmarshal(readAll(t, blob), &b); err != nil {
		t.Fatal(err)
	}
	v, err := sgverify.NewVerifier(tr, sgverify.WithTransparencyLog(1), sgverify.WithIntegratedTimestamps(1), sgverify.WithSignedTimestamps(1))
	if err != nil {
		t.Fatal(err)
	}
	digest, err := hex.DecodeString(strings.TrimPrefix(img.DigestStr(), "sha256:"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		subject string
		ok      bool
	}{{alice, true}, {bob, false}} {
		id, err := sgverify.NewShortCertificateIdentity(s.Issuer(), "", tc.subject, "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(&b, sgverify.NewPolicy(sgverify.WithArtifactDigest("sha256", digest), sgverify.WithCertificateIdentity(id)))
		if (err == nil) != tc.ok {
			t.Errorf("verifying as %s: error %v, want success %v", tc.subject, err, tc.ok)
		}
	}
}

package notation_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/notaryproject/notation-core-go/signature"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/notation"
)

// signWithScheme signs img as p with the given Notary Project signing
// scheme (the notation CLI only makes notary.x509).
func (p *pki) signWithScheme(t *testing.T, img name.Digest, scheme signature.SigningScheme) {
	t.Helper()
	d, err := remote.Head(img)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"targetArtifact": ocispec.Descriptor{MediaType: string(d.MediaType), Digest: digest.Digest(d.Digest.String()), Size: d.Size}})
	s, err := signature.NewLocalSigner([]*x509.Certificate{p.leaf, p.ca}, p.leafKey)
	if err != nil {
		t.Fatal(err)
	}
	env, err := signature.NewEnvelope(notation.MediaTypeJWS)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := env.Sign(&signature.SignRequest{
		Payload:       signature.Payload{ContentType: "application/vnd.cncf.notary.payload.v1+json", Content: payload},
		Signer:        s,
		SigningTime:   time.Now(),
		SigningScheme: scheme,
		SigningAgent:  "signet tests",
	})
	if err != nil {
		t.Fatal(err)
	}
	testutil.AttachArtifact(t, img, "", notation.ArtifactType, notation.MediaTypeJWS, blob)
}

// TestTrustStoreKinds: a signingAuthority trust root verifies signatures
// made with the notary.x509.signingAuthority scheme, a signingService
// trust root those made with notary.x509, and neither the other's.
func TestTrustStoreKinds(t *testing.T) {
	t.Parallel()
	now := time.Now()
	p := newPKI(t, "authority", now.Add(-time.Hour), now.Add(time.Hour))
	tests := []struct {
		scheme signature.SigningScheme
		store  string
		want   verify.Outcome
	}{
		{signature.SigningSchemeX509SigningAuthority, notation.StoreSigningAuthority, verify.Verified},
		{signature.SigningSchemeX509SigningAuthority, notation.StoreSigningService, verify.Failed},
		{signature.SigningSchemeX509, notation.StoreSigningService, verify.Verified},
		{signature.SigningSchemeX509, notation.StoreSigningAuthority, verify.Failed},
	}
	for _, tc := range tests {
		t.Run(string(tc.scheme)+" "+tc.store, func(t *testing.T) {
			t.Parallel()
			reg := testutil.NewRegistry(t, true)
			img := reg.PushImage(t, "demo/app:v1")
			p.signWithScheme(t, img, tc.scheme)
			v, err := notation.New(registry.MustNew(registry.WithInsecureRegistries(reg.Host)),
				[]notation.TrustRoot{{Name: "a", CAs: []*x509.Certificate{p.ca}, Store: tc.store}},
				verify.Quorum{Roots: []string{"a"}, Threshold: 1}, notation.Options{})
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Verify(context.Background(), verify.Image{Ref: img})
			if got := verify.Classify(err); got != tc.want {
				t.Fatalf("outcome %s, want %s: %v; checks %+v", got, tc.want, err, res.Checks)
			}
		})
	}
}

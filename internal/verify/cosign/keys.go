package cosign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// minRSABits is the smallest RSA modulus accepted for a trust root.
const minRSABits = 2048

// ParsePublicKey parses a PEM public key (PKIX "PUBLIC KEY" or PKCS#1
// "RSA PUBLIC KEY") and returns a verifier for it. ECDSA P-256, P-384 and
// P-521, RSA of at least 2048 bits and Ed25519 are accepted. Signatures are
// checked over SHA-256, cosign's default for every key type.
func ParsePublicKey(pemBytes []byte) (signature.Verifier, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("parsing PEM public key: %w", err)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return nil, fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if k.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA key of %d bits is too small (minimum %d)", k.N.BitLen(), minRSABits)
		}
	case ed25519.PublicKey:
	default:
		return nil, fmt.Errorf("unsupported public key type %T", pub)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("loading verifier: %w", err)
	}
	return v, nil
}

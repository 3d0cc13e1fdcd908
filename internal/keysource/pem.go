package keysource

import (
	"crypto"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

func marshalPEM(pub crypto.PublicKey) ([]byte, error) {
	return cryptoutils.MarshalPublicKeyToPEM(pub)
}

package notaryv1

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"

	canonicaljson "github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"
	"github.com/theupdateframework/notary/tuf/signed"
	"github.com/theupdateframework/notary/tuf/utils"
)

// maxRootKeys bounds the keys a root.json may list (Docker Hub's list
// four: one per base role).
const maxRootKeys = 64

// checkRoot checks root.json of gun against the pinned root key pub before
// notary's own validation runs, and returns the IDs of the root keys whose
// certificate holds pub, to pin notary's validation to.
//
// signet and notary must read the root keys the same way, or an attacker
// can make signet see the pin in one reading while notary verifies another
// key's signatures in its own (a header-carrying leaf PEM block notary's
// bundle parser keeps and signet's skipped, with a CA certificate holding
// the pinned key behind it). So a root key is accepted only in the one
// form notary writes it and every reading agrees on:
//
//   - every key's declared ID is the ID of its content (data.PublicKey.ID,
//     the sha256 of its canonical JSON), for every role;
//   - a root-role key is an x509 key whose PEM is exactly the canonical
//     encoding of its certificates (no PEM headers, no other block types,
//     nothing around them), parsed by notary's utils.LoadCertBundleFromPEM
//     to one non-CA leaf first, then CA certificates only, the leaf passing
//     notary's utils.ValidateCertificate and naming gun
//     (trustpinning.MatchCNToGun);
//   - no two root-role keys hold the same leaf public key;
//   - the pin matches the leaf's public key only, never a CA's.
//
// Then root.json must carry a valid signature by the pinned key itself,
// verified directly against pub (not against a certificate from root.json)
// with notary's signature verifiers; notary's trustpinning.ValidateRoot
// then checks the root role's threshold with the pinned certificates.
func checkRoot(root []byte, pub crypto.PublicKey, gun string) ([]string, error) {
	var s data.Signed
	if err := canonicaljson.Unmarshal(root, &s); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	sr, err := data.RootFromSigned(&s)
	if err != nil {
		return nil, err
	}
	if len(sr.Signed.Keys) > maxRootKeys {
		return nil, fmt.Errorf("lists %d keys, more than %d", len(sr.Signed.Keys), maxRootKeys)
	}
	for _, id := range slices.Sorted(maps.Keys(sr.Signed.Keys)) {
		if got := sr.Signed.Keys[id].ID(); got != id {
			return nil, fmt.Errorf("key %s: declared ID does not match the key's content (its ID is %s)", id, got)
		}
	}
	role, ok := sr.Signed.Roles[data.CanonicalRootRole]
	if !ok {
		return nil, errors.New("no root role")
	}
	want, ok := pub.(interface{ Equal(crypto.PublicKey) bool })
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", pub)
	}
	var ids []string
	var leaves []crypto.PublicKey
	for i, id := range role.KeyIDs {
		if slices.Contains(role.KeyIDs[:i], id) {
			return nil, fmt.Errorf("root role lists key %s twice", id)
		}
		leaf, err := rootLeaf(sr.Signed.Keys[id], gun)
		if err != nil {
			return nil, fmt.Errorf("root key %s: %w", id, err)
		}
		if slices.ContainsFunc(leaves, func(k crypto.PublicKey) bool { return sameKey(k, leaf.PublicKey) }) {
			return nil, fmt.Errorf("root key %s: holds the same public key as another root key", id)
		}
		leaves = append(leaves, leaf.PublicKey)
		if want.Equal(leaf.PublicKey) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	if err := signedByPinnedKey(&s, ids, pub); err != nil {
		return nil, err
	}
	return ids, nil
}

// rootLeaf parses a root-role key as described at checkRoot and returns
// its leaf certificate.
func rootLeaf(k data.PublicKey, gun string) (*x509.Certificate, error) {
	if k == nil {
		return nil, errors.New("missing")
	}
	switch k.Algorithm() {
	case data.ECDSAx509Key, data.RSAx509Key:
	default:
		return nil, fmt.Errorf("type %q is not a certificate (root keys are x509 certificates)", k.Algorithm())
	}
	certs, err := utils.LoadCertBundleFromPEM(k.Public())
	if err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	canonical, err := utils.CertChainToPEM(certs)
	if err != nil || !bytes.Equal(canonical, k.Public()) {
		return nil, errors.New("PEM is not exactly its certificates' canonical encoding (PEM headers, other blocks or text around them)")
	}
	leaves := utils.GetLeafCerts(certs)
	switch {
	case len(leaves) != 1:
		return nil, fmt.Errorf("holds %d leaf (non-CA) certificates, want exactly 1", len(leaves))
	case certs[0].IsCA:
		return nil, errors.New("the first certificate is a CA, not the leaf")
	}
	leaf := certs[0]
	if err := utils.ValidateCertificate(leaf, false); err != nil {
		return nil, err
	}
	if !trustpinning.MatchCNToGun(leaf.Subject.CommonName, data.GUN(gun)) {
		return nil, fmt.Errorf("certificate common name %q does not name %s", leaf.Subject.CommonName, gun)
	}
	switch leaf.PublicKey.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey:
	default:
		return nil, fmt.Errorf("unsupported key type %T", leaf.PublicKey)
	}
	return leaf, nil
}

// signedByPinnedKey checks that root carries a valid signature, under one
// of ids, made by pub itself.
func signedByPinnedKey(s *data.Signed, ids []string, pub crypto.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return fmt.Errorf("encoding the pinned key: %w", err)
	}
	var key data.PublicKey
	switch pub.(type) {
	case *ecdsa.PublicKey:
		key = data.NewECDSAPublicKey(der)
	case *rsa.PublicKey:
		key = data.NewRSAPublicKey(der)
	default:
		return fmt.Errorf("unsupported pinned key type %T", pub)
	}
	// The signed bytes as notary's signed.VerifySignatures makes them.
	var decoded map[string]any
	if err := canonicaljson.Unmarshal(*s.Signed, &decoded); err != nil {
		return fmt.Errorf("decoding: %w", err)
	}
	msg, err := canonicaljson.MarshalCanonical(decoded)
	if err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	for _, sig := range s.Signatures {
		if !slices.Contains(ids, sig.KeyID) {
			continue
		}
		if err := signed.VerifySignature(msg, &sig, key); err == nil {
			return nil
		}
	}
	return errors.New("no valid signature by the pinned root key itself (signed by another key, or the signature does not verify)")
}

func sameKey(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}

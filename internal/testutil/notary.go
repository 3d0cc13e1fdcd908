package testutil

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	canonicaljson "github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/tuf/data"
)

// Notary v1 trust data for tests, made with notary's own data types and
// signed in notary's format, so that tests can serve what a hostile Notary
// server would.

// TUFCert returns a certificate for pub named cn, signed by signer with
// parent as issuer (self-issued when parent is nil): a code-signing leaf
// as notary makes root certificates or, with isCA, a CA.
func TUFCert(t testing.TB, cn string, pub any, signer *ecdsa.PrivateKey, parent *x509.Certificate, isCA bool) *x509.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true, IsCA: isCA,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	check(t, err)
	c, err := x509.ParseCertificate(der)
	return must(t, c, err)
}

// CertPEM encodes c, with PEM headers when h is not empty.
func CertPEM(c *x509.Certificate, h map[string]string) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: h, Bytes: c.Raw}))
}

// TUFKey returns key's public key as a plain (non-certificate) TUF key, as
// notary uses for every role but root.
func TUFKey(t testing.TB, key *ecdsa.PrivateKey) data.PublicKey {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	check(t, err)
	return data.NewECDSAPublicKey(der)
}

// ForgedRootKey returns the root key of security.md's class 16: the
// attacker's leaf certificate (for gun) in a PEM block with headers, then
// a CA certificate holding pinned, which the attacker can make with the
// public key alone; and the key ID notary's trust pinning computes for it
// once the headers are gone.
func ForgedRootKey(t testing.TB, gun string, pinned any, attacker *ecdsa.PrivateKey) (data.PublicKey, string) {
	t.Helper()
	leaf := TUFCert(t, gun, &attacker.PublicKey, attacker, nil, false)
	ca := TUFCert(t, "ca", pinned, attacker, leaf, true)
	forged := data.NewECDSAx509PublicKey([]byte(CertPEM(leaf, map[string]string{"Comment": "x"}) + CertPEM(ca, nil)))
	return forged, data.NewECDSAx509PublicKey([]byte(CertPEM(leaf, nil) + CertPEM(ca, nil))).ID()
}

// TUFRoot returns an unsigned root.json, version 1: the root role holds
// rootIDs with threshold, each declared in keys under its ID; timestamp,
// snapshot and targets hold one key each.
func TUFRoot(t testing.TB, keys data.Keys, rootIDs []string, threshold int, timestamp, snapshot, targets data.PublicKey) *data.Signed {
	t.Helper()
	all := data.Keys{}
	roles := map[data.RoleName]*data.RootRole{data.CanonicalRootRole: {KeyIDs: rootIDs, Threshold: threshold}}
	for id, k := range keys {
		all[id] = k
	}
	for role, k := range map[data.RoleName]data.PublicKey{data.CanonicalTimestampRole: timestamp, data.CanonicalSnapshotRole: snapshot, data.CanonicalTargetsRole: targets} {
		all[k.ID()] = k
		roles[role] = &data.RootRole{KeyIDs: []string{k.ID()}, Threshold: 1}
	}
	sr, err := data.NewRoot(all, roles, false)
	check(t, err)
	sr.Signed.Version = 1
	s, err := sr.ToSigned()
	return must(t, s, err)
}

// TUFTarget is a tag and the image it is signed as.
type TUFTarget struct {
	Tag       string
	DigestHex string
	Size      int64
}

// TUFTrustData returns the files of a repository (role → content): root,
// and targets signing target and a snapshot, both signed by key, plus a
// timestamp signed by key unless the server makes its own (withTimestamp
// false).
func TUFTrustData(t testing.TB, root *data.Signed, key *ecdsa.PrivateKey, target TUFTarget, withTimestamp bool) map[string][]byte {
	t.Helper()
	id := TUFKey(t, key).ID()
	tg := data.NewTargets()
	tg.Signed.Version = 1
	h, err := hex.DecodeString(target.DigestHex)
	check(t, err)
	tg.Signed.Targets[target.Tag] = data.FileMeta{Length: target.Size, Hashes: data.Hashes{"sha256": h}}
	targets, err := tg.ToSigned()
	check(t, err)
	SignTUF(t, targets, id, key)
	sn, err := data.NewSnapshot(root, targets)
	check(t, err)
	sn.Signed.Version = 1
	snapshot, err := sn.ToSigned()
	check(t, err)
	SignTUF(t, snapshot, id, key)
	files := map[string]*data.Signed{"root": root, "targets": targets, "snapshot": snapshot}
	if withTimestamp {
		ts, err := data.NewTimestamp(snapshot)
		check(t, err)
		ts.Signed.Version = 1
		if files["timestamp"], err = ts.ToSigned(); err != nil {
			t.Fatal(err)
		}
		SignTUF(t, files["timestamp"], id, key)
	}
	out := map[string][]byte{}
	for role, s := range files {
		b, err := canonicaljson.Marshal(s)
		out[role] = must(t, b, err)
	}
	return out
}

// SignTUF appends an ECDSA signature by key under the key ID id to s, in
// notary's format: r||s over the sha256 of the canonical JSON.
func SignTUF(t testing.TB, s *data.Signed, id string, key *ecdsa.PrivateKey) {
	t.Helper()
	var decoded map[string]any
	check(t, canonicaljson.Unmarshal(*s.Signed, &decoded))
	msg, err := canonicaljson.MarshalCanonical(decoded)
	check(t, err)
	digest := sha256.Sum256(msg)
	r, ss, err := ecdsa.Sign(rand.Reader, key, digest[:])
	check(t, err)
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	s.Signatures = append(s.Signatures, data.Signature{KeyID: id, Method: data.ECDSASignature, Signature: sig})
}

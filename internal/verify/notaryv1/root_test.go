package notaryv1

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	canonicaljson "github.com/docker/go/canonical/json"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/verify"
)

const testGUN = "docker.io/acme/app"

// newECKey returns a P-256 key.
func newECKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newCert returns a certificate for pub, named cn, signed by signer (self
// signed when parent is nil), as notary makes root certificates (a
// code-signing leaf) or, with isCA, a CA.
func newCert(t *testing.T, cn string, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey, parent *x509.Certificate, isCA bool) *x509.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
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
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func certPEM(c *x509.Certificate, headers map[string]string) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: headers, Bytes: c.Raw}))
}

// plainKey is a non-certificate TUF key, as notary uses for the other roles.
func plainKey(t *testing.T, k *ecdsa.PrivateKey) data.PublicKey {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return data.NewECDSAPublicKey(der)
}

// signer signs TUF metadata with priv under the key ID id.
type signer struct {
	id   string
	priv *ecdsa.PrivateKey
}

// sign appends each signer's ECDSA signature (notary's format: r||s over
// the sha256 of the canonical JSON) to s.
func sign(t *testing.T, s *data.Signed, signers ...signer) {
	t.Helper()
	var decoded map[string]any
	if err := canonicaljson.Unmarshal(*s.Signed, &decoded); err != nil {
		t.Fatal(err)
	}
	msg, err := canonicaljson.MarshalCanonical(decoded)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256(msg)
	for _, sg := range signers {
		r, ss, err := ecdsa.Sign(rand.Reader, sg.priv, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
		s.Signatures = append(s.Signatures, data.Signature{KeyID: sg.id, Method: data.ECDSASignature, Signature: sig})
	}
}

// rootSpec describes a root.json: its root-role keys under their declared
// IDs, the root role's threshold, and who signs it. The other roles share
// one plain key, other.
type rootSpec struct {
	keys      []declared
	threshold int
	signers   []signer
	other     *ecdsa.PrivateKey
}

type declared struct {
	id  string // "" for the content's ID
	key data.PublicKey
}

func (d declared) ID() string {
	if d.id != "" {
		return d.id
	}
	return d.key.ID()
}

func makeRoot(t *testing.T, spec rootSpec) *data.Signed {
	t.Helper()
	other := plainKey(t, spec.other)
	keys := data.Keys{other.ID(): other}
	var ids []string
	for _, d := range spec.keys {
		keys[d.ID()] = d.key
		ids = append(ids, d.ID())
	}
	roles := map[data.RoleName]*data.RootRole{data.CanonicalRootRole: {KeyIDs: ids, Threshold: max(1, spec.threshold)}}
	for _, r := range []data.RoleName{data.CanonicalTimestampRole, data.CanonicalSnapshotRole, data.CanonicalTargetsRole} {
		roles[r] = &data.RootRole{KeyIDs: []string{other.ID()}, Threshold: 1}
	}
	sr, err := data.NewRoot(keys, roles, false)
	if err != nil {
		t.Fatal(err)
	}
	sr.Signed.Version = 1
	s, err := sr.ToSigned()
	if err != nil {
		t.Fatal(err)
	}
	sign(t, s, spec.signers...)
	return s
}

// serve serves a complete trust data set for testGUN: root, and targets
// (signing tag v1 as digest), snapshot and timestamp signed by other. It
// returns a Verifier pinned to pinned.
func serve(t *testing.T, root *data.Signed, other *ecdsa.PrivateKey, digest string, pinned *ecdsa.PublicKey) *Verifier {
	t.Helper()
	o := signer{plainKey(t, other).ID(), other}
	marshal := func(s *data.Signed) []byte {
		b, err := canonicaljson.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tg := data.NewTargets()
	tg.Signed.Version = 1
	h, _ := hex.DecodeString(strings.TrimPrefix(digest, "sha256:"))
	tg.Signed.Targets["v1"] = data.FileMeta{Length: 1234, Hashes: data.Hashes{"sha256": h}}
	targets, err := tg.ToSigned()
	if err != nil {
		t.Fatal(err)
	}
	sign(t, targets, o)
	sn, err := data.NewSnapshot(root, targets)
	if err != nil {
		t.Fatal(err)
	}
	sn.Signed.Version = 1
	snapshot, err := sn.ToSigned()
	if err != nil {
		t.Fatal(err)
	}
	sign(t, snapshot, o)
	ts, err := data.NewTimestamp(snapshot)
	if err != nil {
		t.Fatal(err)
	}
	ts.Signed.Version = 1
	timestamp, err := ts.ToSigned()
	if err != nil {
		t.Fatal(err)
	}
	sign(t, timestamp, o)
	files := map[string][]byte{"root": marshal(root), "targets": marshal(targets), "snapshot": marshal(snapshot), "timestamp": marshal(timestamp)}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		role := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/"+testGUN+"/_trust/tuf/"), ".json")
		b, ok := files[role]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	v, err := New(srv.URL, []TrustRoot{{Name: "release", Key: pinned}}, verify.Quorum{Roots: []string{"release"}, Threshold: 1},
		WithTransport(srv.Client().Transport), WithKeychain(authn.NewMultiKeychain()))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// headerlessID is the ID notary's trust pinning computes for a root key
// made of leaf and chain: the key re-encoded without PEM headers.
func headerlessID(leaf *x509.Certificate, chain ...*x509.Certificate) string {
	s := certPEM(leaf, nil)
	for _, c := range chain {
		s += certPEM(c, nil)
	}
	return data.NewECDSAx509PublicKey([]byte(s)).ID()
}

// TestHostileRoots: root.json shapes a hostile Notary server can serve
// around a pinned root key. Only the legitimate shapes verify; the rest
// fail (a definite failure, never inconclusive) before any tag resolves.
func TestHostileRoots(t *testing.T) {
	t.Parallel()
	pinned, attacker, other := newECKey(t), newECKey(t), newECKey(t)
	pinnedCert := newCert(t, testGUN, &pinned.PublicKey, pinned, nil, false)
	pinnedKey := data.NewECDSAx509PublicKey([]byte(certPEM(pinnedCert, nil)))
	attackerCert := newCert(t, testGUN, &attacker.PublicKey, attacker, nil, false)
	attackerKey := data.NewECDSAx509PublicKey([]byte(certPEM(attackerCert, nil)))
	// A CA certificate holding the pinned public key; the attacker signs
	// it (no one needs the pinned private key to make one).
	pinnedCA := newCert(t, "ca", &pinned.PublicKey, attacker, attackerCert, true)
	// Another certificate of the pinned key (a re-issued root certificate).
	pinnedCert2 := newCert(t, testGUN, &pinned.PublicKey, pinned, nil, false)
	pinnedKey2 := data.NewECDSAx509PublicKey([]byte(certPEM(pinnedCert2, nil)))
	// The review's forged root: a header-carrying attacker leaf, then the
	// CA holding the pinned key, declared under the ID notary's pinning
	// computes for it once the headers are gone.
	forged := data.NewECDSAx509PublicKey([]byte(certPEM(attackerCert, map[string]string{"Comment": "x"}) + certPEM(pinnedCA, nil)))
	forgedID := headerlessID(attackerCert, pinnedCA)
	x509Key := func(pem string) data.PublicKey { return data.NewECDSAx509PublicKey([]byte(pem)) }
	pinnedPlain := plainKey(t, pinned)
	otherGUNCert := newCert(t, "docker.io/other/app", &pinned.PublicKey, pinned, nil, false)
	otherGUN := x509Key(certPEM(otherGUNCert, nil))

	by := func(k data.PublicKey, priv *ecdsa.PrivateKey) signer { return signer{k.ID(), priv} }
	tests := []struct {
		name string
		spec rootSpec
		why  string // substring of the failure; "" verifies
	}{
		{"legitimate root", rootSpec{keys: []declared{{key: pinnedKey}}, signers: []signer{by(pinnedKey, pinned)}}, ""},
		{"legitimate root with an extra root key, both signing", rootSpec{keys: []declared{{key: pinnedKey}, {key: attackerKey}}, signers: []signer{by(pinnedKey, pinned), by(attackerKey, attacker)}}, ""},
		{"forged: header-carrying attacker leaf and a CA around the pinned key", rootSpec{keys: []declared{{id: forgedID, key: forged}}, signers: []signer{{forgedID, attacker}}}, "declared ID does not match"},
		{"forged, declared under its own ID", rootSpec{keys: []declared{{key: forged}}, signers: []signer{by(forged, attacker)}}, "canonical encoding"},
		{"PEM headers on the pinned leaf", rootSpec{keys: []declared{{key: x509Key(certPEM(pinnedCert, map[string]string{"Comment": "x"}))}}, signers: []signer{by(x509Key(certPEM(pinnedCert, map[string]string{"Comment": "x"})), pinned)}}, "canonical encoding"},
		{"text before the certificate", rootSpec{keys: []declared{{key: x509Key("hello\n" + certPEM(pinnedCert, nil))}}, signers: []signer{by(x509Key("hello\n"+certPEM(pinnedCert, nil)), pinned)}}, "canonical encoding"},
		{"another PEM block after the certificate", rootSpec{keys: []declared{{key: x509Key(certPEM(pinnedCert, nil) + "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")}}}, "certificates"},
		{"two leaves", rootSpec{keys: []declared{{key: x509Key(certPEM(pinnedCert, nil) + certPEM(attackerCert, nil))}}, signers: []signer{by(x509Key(certPEM(pinnedCert, nil)+certPEM(attackerCert, nil)), pinned)}}, "2 leaf"},
		{"attacker leaf and a CA around the pinned key", rootSpec{keys: []declared{{key: x509Key(certPEM(attackerCert, nil) + certPEM(pinnedCA, nil))}}, signers: []signer{by(x509Key(certPEM(attackerCert, nil)+certPEM(pinnedCA, nil)), attacker)}}, "not signed with the pinned root key"},
		{"CA around the pinned key first", rootSpec{keys: []declared{{key: x509Key(certPEM(pinnedCA, nil) + certPEM(attackerCert, nil))}}, signers: []signer{by(x509Key(certPEM(pinnedCA, nil)+certPEM(attackerCert, nil)), attacker)}}, "first certificate is a CA"},
		{"declared ID is not the content's", rootSpec{keys: []declared{{id: strings.Repeat("ab", 32), key: pinnedKey}}, signers: []signer{{strings.Repeat("ab", 32), pinned}}}, "declared ID does not match"},
		{"pinned key present, signed by another key under its ID", rootSpec{keys: []declared{{key: pinnedKey}}, signers: []signer{{pinnedKey.ID(), attacker}}}, "no valid signature by the pinned root key"},
		{"extra root key, only it signs", rootSpec{keys: []declared{{key: pinnedKey}, {key: attackerKey}}, signers: []signer{by(attackerKey, attacker)}}, "no valid signature by the pinned root key"},
		{"unsigned", rootSpec{keys: []declared{{key: pinnedKey}}}, "no valid signature by the pinned root key"},
		{"the pinned key twice, threshold 2", rootSpec{keys: []declared{{key: pinnedKey}, {key: pinnedKey2}}, threshold: 2, signers: []signer{by(pinnedKey, pinned), by(pinnedKey2, pinned)}}, "same public key as another root key"},
		{"threshold 2, the second signature by an extra key", rootSpec{keys: []declared{{key: pinnedKey}, {key: attackerKey}}, threshold: 2, signers: []signer{by(pinnedKey, pinned), by(attackerKey, attacker)}}, "could not validate the path to a trusted root"},
		{"threshold 2, the pinned signature twice", rootSpec{keys: []declared{{key: pinnedKey}}, threshold: 2, signers: []signer{by(pinnedKey, pinned), by(pinnedKey, pinned)}}, "could not validate the path to a trusted root"},
		{"pinned key as a plain key", rootSpec{keys: []declared{{key: pinnedPlain}}, signers: []signer{by(pinnedPlain, pinned)}}, "not a certificate"},
		{"certificate for another GUN", rootSpec{keys: []declared{{key: otherGUN}}, signers: []signer{by(otherGUN, pinned)}}, "does not name docker.io/acme/app"},
	}
	digest := "sha256:" + strings.Repeat("1", 64)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.spec.other = other
			v := serve(t, makeRoot(t, tc.spec), other, digest, &pinned.PublicKey)
			ref, _ := imageref.Parse("acme/app:v1")
			d, err := v.ResolveTag(context.Background(), ref)
			if tc.why == "" {
				if err != nil || d.DigestStr() != digest {
					t.Fatalf("ResolveTag = %v, %v; want %s", d, err, digest)
				}
				return
			}
			if got := verify.Classify(err); got != verify.Failed {
				t.Fatalf("outcome %s (%v, digest %v), want failed", got, err, d)
			}
			if !strings.Contains(err.Error(), tc.why) {
				t.Errorf("error %q, want %q", err, tc.why)
			}
		})
	}
}

// TestForgedRootFoolsNotaryAlone shows the forged root of TestHostileRoots
// is the real attack: pinned to the key ID a reading that skips
// header-carrying PEM blocks finds, notary's own root validation accepts
// it, with nothing but the attacker's signature.
func TestForgedRootFoolsNotaryAlone(t *testing.T) {
	t.Parallel()
	pinned, attacker, other := newECKey(t), newECKey(t), newECKey(t)
	attackerCert := newCert(t, testGUN, &attacker.PublicKey, attacker, nil, false)
	pinnedCA := newCert(t, "ca", &pinned.PublicKey, attacker, attackerCert, true)
	forged := data.NewECDSAx509PublicKey([]byte(certPEM(attackerCert, map[string]string{"Comment": "x"}) + certPEM(pinnedCA, nil)))
	forgedID := headerlessID(attackerCert, pinnedCA)
	root := makeRoot(t, rootSpec{keys: []declared{{id: forgedID, key: forged}}, signers: []signer{{forgedID, attacker}}, other: other})
	// What a header-skipping reading sees: the CA holding the pinned key.
	var first *pem.Block
	for rest := forged.Public(); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil || len(b.Headers) == 0 {
			first = b
			break
		}
	}
	c, err := x509.ParseCertificate(first.Bytes)
	if err != nil || !pinned.PublicKey.Equal(c.PublicKey) {
		t.Fatalf("the header-skipping reading does not see the pinned key: %v", err)
	}
	pin := trustpinning.TrustPinConfig{Certs: map[string][]string{testGUN: {forgedID}}, DisableTOFU: true}
	if _, err := trustpinning.ValidateRoot(nil, root, testGUN, pin); err != nil {
		t.Fatalf("notary rejected the forged root (%v): the test no longer shows the attack", err)
	}
	b, _ := canonicaljson.Marshal(root)
	if _, err := checkRoot(b, &pinned.PublicKey, testGUN); err == nil {
		t.Error("checkRoot accepted the forged root")
	}
}

package notaryv1

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	canonicaljson "github.com/docker/go/canonical/json"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/testutil"
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

// signer signs TUF metadata with priv under the key ID id.
type signer struct {
	id   string
	priv *ecdsa.PrivateKey
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
	other := testutil.TUFKey(t, spec.other)
	keys := data.Keys{}
	var ids []string
	for _, d := range spec.keys {
		keys[d.ID()] = d.key
		ids = append(ids, d.ID())
	}
	root := testutil.TUFRoot(t, keys, ids, max(1, spec.threshold), other, other, other)
	for _, sg := range spec.signers {
		testutil.SignTUF(t, root, sg.id, sg.priv)
	}
	return root
}

// serve serves a complete trust data set for testGUN: root, and targets
// (signing tag v1 as digest), snapshot and timestamp signed by other. It
// returns a Verifier pinned to pinned.
func serve(t *testing.T, root *data.Signed, other *ecdsa.PrivateKey, digest string, pinned *ecdsa.PublicKey) *Verifier {
	t.Helper()
	return serveQuorum(t, root, other, digest, []TrustRoot{{Name: "release", Key: pinned}}, verify.Quorum{Roots: []string{"release"}, Threshold: 1})
}

// serveQuorum is serve with trust roots and a quorum.
func serveQuorum(t *testing.T, root *data.Signed, other *ecdsa.PrivateKey, digest string, roots []TrustRoot, q verify.Quorum) *Verifier {
	t.Helper()
	files := testutil.TUFTrustData(t, root, other, testutil.TUFTarget{Tag: "v1", DigestHex: strings.TrimPrefix(digest, "sha256:"), Size: 1234}, true)
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
	v, err := New(srv.URL, roots, q, WithTransport(srv.Client().Transport), WithKeychain(authn.NewMultiKeychain()))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestHostileRoots: root.json shapes a hostile Notary server can serve
// around a pinned root key. Only the legitimate shapes verify; the rest
// fail (a definite failure, never inconclusive) before any tag resolves.
func TestHostileRoots(t *testing.T) {
	t.Parallel()
	pinned, attacker, other := newECKey(t), newECKey(t), newECKey(t)
	certPEM := testutil.CertPEM
	pinnedCert := testutil.TUFCert(t, testGUN, &pinned.PublicKey, pinned, nil, false)
	pinnedKey := data.NewECDSAx509PublicKey([]byte(certPEM(pinnedCert, nil)))
	attackerCert := testutil.TUFCert(t, testGUN, &attacker.PublicKey, attacker, nil, false)
	attackerKey := data.NewECDSAx509PublicKey([]byte(certPEM(attackerCert, nil)))
	// A CA certificate holding the pinned public key; the attacker signs
	// it (no one needs the pinned private key to make one).
	pinnedCA := testutil.TUFCert(t, "ca", &pinned.PublicKey, attacker, attackerCert, true)
	// Another certificate of the pinned key (a re-issued root certificate).
	pinnedCert2 := testutil.TUFCert(t, testGUN, &pinned.PublicKey, pinned, nil, false)
	pinnedKey2 := data.NewECDSAx509PublicKey([]byte(certPEM(pinnedCert2, nil)))
	// The review's forged root: a header-carrying attacker leaf, then a
	// CA holding the pinned key, declared under the ID notary's pinning
	// computes for it once the headers are gone.
	forged, forgedID := testutil.ForgedRootKey(t, testGUN, &pinned.PublicKey, attacker)
	x509Key := func(pem string) data.PublicKey { return data.NewECDSAx509PublicKey([]byte(pem)) }
	pinnedPlain := testutil.TUFKey(t, pinned)
	otherGUNCert := testutil.TUFCert(t, "docker.io/other/app", &pinned.PublicKey, pinned, nil, false)
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
	forged, forgedID := testutil.ForgedRootKey(t, testGUN, &pinned.PublicKey, attacker)
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

// TestOneKeyOneVote: two trust roots pinning one key (as a policy with a
// key written twice would, were it not rejected when it loads) are one
// signer: threshold 2 fails; two root keys, both signing, meet it.
func TestOneKeyOneVote(t *testing.T) {
	t.Parallel()
	k1, k2, other := newECKey(t), newECKey(t), newECKey(t)
	key := func(k *ecdsa.PrivateKey) data.PublicKey {
		return data.NewECDSAx509PublicKey([]byte(testutil.CertPEM(testutil.TUFCert(t, testGUN, &k.PublicKey, k, nil, false), nil)))
	}
	c1, c2 := key(k1), key(k2)
	digest := "sha256:" + strings.Repeat("2", 64)
	q := verify.Quorum{Roots: []string{"a", "b"}, Threshold: 2}
	for _, tc := range []struct {
		name  string
		roots []TrustRoot
		want  verify.Outcome
	}{
		{"one key under two names", []TrustRoot{{Name: "a", Key: &k1.PublicKey}, {Name: "b", Key: &k1.PublicKey}}, verify.Failed},
		{"two keys", []TrustRoot{{Name: "a", Key: &k1.PublicKey}, {Name: "b", Key: &k2.PublicKey}}, verify.Verified},
	} {
		root := makeRoot(t, rootSpec{keys: []declared{{key: c1}, {key: c2}}, signers: []signer{{c1.ID(), k1}, {c2.ID(), k2}}, other: other})
		v := serveQuorum(t, root, other, digest, tc.roots, q)
		ref, _ := imageref.Parse("acme/app:v1")
		_, err := v.ResolveTag(context.Background(), ref)
		if got := verify.Classify(err); got != tc.want {
			t.Errorf("%s: outcome %s (%v), want %s", tc.name, got, err, tc.want)
		}
		if tc.want == verify.Failed && !strings.Contains(err.Error(), "1 of 2 required") {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestRootKeyLimit: a root.json listing more than maxRootKeys keys is
// refused before any of them is parsed.
func TestRootKeyLimit(t *testing.T) {
	t.Parallel()
	pinned, other := newECKey(t), newECKey(t)
	keys := data.Keys{}
	for len(keys) < maxRootKeys {
		k := testutil.TUFKey(t, newECKey(t))
		keys[k.ID()] = k
	}
	o := testutil.TUFKey(t, other)
	for _, n := range []int{maxRootKeys - 1, maxRootKeys} { // plus the key of the other roles
		some := data.Keys{}
		for id, k := range keys {
			if len(some) < n {
				some[id] = k
			}
		}
		root := testutil.TUFRoot(t, some, nil, 1, o, o, o)
		b, _ := canonicaljson.Marshal(root)
		_, err := checkRoot(b, &pinned.PublicKey, testGUN)
		if tooMany := err != nil && strings.Contains(err.Error(), "more than 64"); tooMany != (n+1 > maxRootKeys) {
			t.Errorf("%d keys: %v", n+1, err)
		}
	}
}

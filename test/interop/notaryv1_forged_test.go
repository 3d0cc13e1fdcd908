package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	canonicaljson "github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/signet-dev/signet/test/harness"
)

// TestNotaryV1ForgedRoot publishes, to a real notary-server, trust data
// for a new repository whose root key is the review's forgery: a leaf
// certificate of the attacker's key in a PEM block with headers, then a CA
// certificate holding the victim's pinned root public key, declared under
// the key ID notary's trust pinning computes once the headers are gone,
// signed by the attacker only. The server accepts and serves it (a new
// repository's root is trusted on first use); notary's own verification
// pinned to that ID accepts it too and resolves the tag to the attacker's
// digest. signet, pinned to the victim's key, denies it.
func TestNotaryV1ForgedRoot(t *testing.T) {
	t.Parallel()
	reg := harness.StartDistribution(t)
	n := harness.StartNotary(t)
	c := n.Client(t)
	creds := n.DockerConfig(t)
	ca := string(n.CAPEM)

	// The victim's repository, signed with the real notary client: its
	// root key is the one the policy pins.
	gun := reg.Host + "/dct/app"
	good := pushImage(t, gun+":v1")
	c.Run(t, "init", "-p", gun)
	c.Run(t, "addhash", "-p", gun, "v1", fmt.Sprint(good.size), "--sha256", good.hex())
	rootKey := rootPublicKey(t, c.RootJSON(t, gun))
	policy := notaryPolicy(n.URL, ca, reg.Host+"/**", map[string]string{"release": rootKey}, "")

	// The attacker's repository and forged trust data.
	evilGUN := reg.Host + "/dct/evil"
	evil := pushImage(t, evilGUN+":v1")
	forgedID := forgeTrustData(t, n, evilGUN, rootKey, evil)

	// notary's own TUF code, pinned to the ID a header-skipping reading of
	// the root key finds, verifies the trust data the server serves and
	// resolves the tag to the attacker's digest.
	files := n.TrustData(t, evilGUN, "root", "timestamp", "snapshot", "targets")
	b := tuf.NewRepoBuilder(data.GUN(evilGUN), nil, trustpinning.TrustPinConfig{Certs: map[string][]string{evilGUN: {forgedID}}, DisableTOFU: true})
	for _, role := range []string{"root", "timestamp", "snapshot", "targets"} {
		if err := b.Load(data.RoleName(role), files[role], 1, false); err != nil {
			t.Fatalf("notary rejects the forged %s.json (%v): the test no longer shows the attack", role, err)
		}
	}
	repo, _, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(repo.Targets[data.CanonicalTargetsRole].Signed.Targets["v1"].Hashes["sha256"]); got != evil.hex() {
		t.Fatalf("notary resolves the forged tag to %s, want the attacker's %s", got, evil.hex())
	}

	code, ds, se := signetWithDocker(t, creds, policy, gun+":v1")
	if code != 0 || len(ds) != 1 || ds[0].Pinned != gun+"@"+good.digest.DigestStr() {
		t.Fatalf("the victim's own repository: exit %d, %+v\n%s", code, ds, se)
	}
	for _, img := range []string{evilGUN + ":v1", evil.digest.String()} {
		code, ds, se = signetWithDocker(t, creds, policy, img)
		if code != 1 || len(ds) != 1 || ds[0].Allowed || ds[0].Pinned != "" {
			t.Fatalf("%s, forged root: exit %d, %+v\n%s", img, code, ds, se)
		}
		if !strings.Contains(ds[0].Reason, "declared ID does not match the key's content") {
			t.Errorf("%s: reason %q", img, ds[0].Reason)
		}
	}
}

// forgeTrustData publishes forged trust data for gun signing tag v1 as
// img, around pinnedPEM (a PEM public key), and returns the key ID the
// root key is declared under.
func forgeTrustData(t *testing.T, n *harness.Notary, gun, pinnedPEM string, img pushed) string {
	t.Helper()
	block, _ := pem.Decode([]byte(pinnedPEM))
	pinned, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cert := func(cn string, pub any, isCA bool, parent *x509.Certificate) *x509.Certificate {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
			BasicConstraintsValid: true, IsCA: isCA}
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, attacker)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	leaf := cert(gun, &attacker.PublicKey, false, nil)
	pinnedCA := cert("ca", pinned, true, leaf)
	encode := func(c *x509.Certificate, h map[string]string) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: h, Bytes: c.Raw})
	}
	forged := data.NewECDSAx509PublicKey(append(encode(leaf, map[string]string{"Comment": "x"}), encode(pinnedCA, nil)...))
	forgedID := data.NewECDSAx509PublicKey(append(encode(leaf, nil), encode(pinnedCA, nil)...)).ID()

	tsKey, err := data.UnmarshalPublicKey(n.TimestampKey(t, gun))
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&attacker.PublicKey)
	plain := data.NewECDSAPublicKey(der)
	sr, err := data.NewRoot(data.Keys{forgedID: forged, tsKey.ID(): tsKey, plain.ID(): plain}, map[data.RoleName]*data.RootRole{
		data.CanonicalRootRole:      {KeyIDs: []string{forgedID}, Threshold: 1},
		data.CanonicalTimestampRole: {KeyIDs: []string{tsKey.ID()}, Threshold: 1},
		data.CanonicalSnapshotRole:  {KeyIDs: []string{plain.ID()}, Threshold: 1},
		data.CanonicalTargetsRole:   {KeyIDs: []string{plain.ID()}, Threshold: 1},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	sr.Signed.Version = 1
	root, err := sr.ToSigned()
	if err != nil {
		t.Fatal(err)
	}
	signTUF(t, root, forgedID, attacker)
	tg := data.NewTargets()
	tg.Signed.Version = 1
	h, _ := hex.DecodeString(img.hex())
	tg.Signed.Targets["v1"] = data.FileMeta{Length: int64(img.size), Hashes: data.Hashes{"sha256": h}}
	targets, err := tg.ToSigned()
	if err != nil {
		t.Fatal(err)
	}
	signTUF(t, targets, plain.ID(), attacker)
	sn, err := data.NewSnapshot(root, targets)
	if err != nil {
		t.Fatal(err)
	}
	sn.Signed.Version = 1
	snapshot, err := sn.ToSigned()
	if err != nil {
		t.Fatal(err)
	}
	signTUF(t, snapshot, plain.ID(), attacker)
	files := map[string][]byte{}
	for role, s := range map[string]*data.Signed{"root": root, "targets": targets, "snapshot": snapshot} {
		if files[role], err = canonicaljson.Marshal(s); err != nil {
			t.Fatal(err)
		}
	}
	n.Publish(t, gun, files)
	return forgedID
}

// signTUF appends an ECDSA signature by key under id to s, in notary's
// format.
func signTUF(t *testing.T, s *data.Signed, id string, key *ecdsa.PrivateKey) {
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
	r, ss, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	s.Signatures = append(s.Signatures, data.Signature{KeyID: id, Method: data.ECDSASignature, Signature: sig})
}

// TestNotaryV1OneKeyOneVote: the real root key of a repository signed with
// the real notary client, pinned under two trust-root names (once as its
// public key, once as the root certificate holding it), is one signer: the
// policy is rejected when it loads, with the second root's field path.
func TestNotaryV1OneKeyOneVote(t *testing.T) {
	t.Parallel()
	reg := harness.StartDistribution(t)
	n := harness.StartNotary(t)
	c := n.Client(t)
	gun := reg.Host + "/dct/app"
	img := pushImage(t, gun+":v1")
	c.Run(t, "init", "-p", gun)
	c.Run(t, "addhash", "-p", gun, "v1", fmt.Sprint(img.size), "--sha256", img.hex())
	root := c.RootJSON(t, gun)
	var s data.Signed
	if err := canonicaljson.Unmarshal(root, &s); err != nil {
		t.Fatal(err)
	}
	sr, err := data.RootFromSigned(&s)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(sr.Signed.Keys[sr.Signed.Roles[data.CanonicalRootRole].KeyIDs[0]].Public())
	keys := map[string]string{"a-key": rootPublicKey(t, root), "b-cert": certPEM}
	code, ds, se := signetWithDocker(t, n.DockerConfig(t), notaryPolicy(n.URL, string(n.CAPEM), reg.Host+"/**", keys, `{trustRoot: "*", threshold: 2}`), gun+":v1")
	if code != 2 || len(ds) != 0 || !strings.Contains(se, "validators[0].trustRoots[1].key: the same public key as validators[0].trustRoots[0]") {
		t.Fatalf("exit %d, %+v\n%s", code, ds, se)
	}
	// Each alone verifies: the form of the pin does not matter.
	for name, k := range keys {
		code, ds, se = signetWithDocker(t, n.DockerConfig(t), notaryPolicy(n.URL, string(n.CAPEM), reg.Host+"/**", map[string]string{name: k}, ""), gun+":v1")
		if code != 0 || len(ds) != 1 || ds[0].Pinned != gun+"@"+img.digest.DigestStr() {
			t.Errorf("pinned as %s: exit %d, %+v\n%s", name, code, ds, se)
		}
	}
}

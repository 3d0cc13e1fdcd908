package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	canonicaljson "github.com/docker/go/canonical/json"
	"github.com/theupdateframework/notary/trustpinning"
	"github.com/theupdateframework/notary/tuf"
	"github.com/theupdateframework/notary/tuf/data"

	"github.com/signet-dev/signet/internal/testutil"
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
// root key is declared under. The server signs the timestamp.
func forgeTrustData(t *testing.T, n *harness.Notary, gun, pinnedPEM string, img pushed) string {
	t.Helper()
	block, _ := pem.Decode([]byte(pinnedPEM))
	pinned, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged, forgedID := testutil.ForgedRootKey(t, gun, pinned, attacker)
	tsKey, err := data.UnmarshalPublicKey(n.TimestampKey(t, gun))
	if err != nil {
		t.Fatal(err)
	}
	plain := testutil.TUFKey(t, attacker)
	root := testutil.TUFRoot(t, data.Keys{forgedID: forged}, []string{forgedID}, 1, tsKey, plain, plain)
	testutil.SignTUF(t, root, forgedID, attacker)
	n.Publish(t, gun, testutil.TUFTrustData(t, root, attacker, testutil.TUFTarget{Tag: "v1", DigestHex: img.hex(), Size: int64(img.size)}, false))
	return forgedID
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

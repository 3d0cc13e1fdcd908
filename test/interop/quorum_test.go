package interop

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

// TestCosignOneSignerOneVote: with signatures made by the real cosign v2
// and v3 CLIs, one key never meets threshold 2: not signed twice (a v2
// legacy signature and a v3 bundle), and not under two trust-root names
// (the policy is rejected when it loads). A second key meets it.
func TestCosignOneSignerOneVote(t *testing.T) {
	t.Parallel()
	reg := harness.StartReferrersRegistry(t)
	c := harness.NewCosign(t)
	k1, pub1 := c.GenKey(t, harness.Tool(t, "cosign2"), "k1")
	k2, pub2 := c.GenKey(t, harness.Tool(t, "cosign2"), "k2")
	img := harness.Push(t, reg.Host, "demo/quorum:v1")
	c.SignV2(t, k1, img)
	c.SignV3(t, k1, img)
	oneVote{
		policy:  cosignPolicy(reg.Host+"/**", map[string]string{"k1": pub1, "k2": pub2}, `{trustRoot: "*", threshold: 2}`),
		dup:     cosignPolicy(reg.Host+"/**", map[string]string{"k1": pub1, "again": pub1}, `{trustRoot: "*", threshold: 2}`),
		dupErr:  "validators[0].trustRoots[1].key: the same public key as validators[0].trustRoots[0]",
		second:  func() { c.SignV2(t, k2, img) },
		signers: "k1,k2",
	}.check(t, img)
}

// TestNotationOneSignerOneVote: two Notation trust roots that share a CA
// do not turn one signature made by the real notation CLI into two; a
// second signing key does meet threshold 2. Identical CA sets are
// rejected when the policy loads.
func TestNotationOneSignerOneVote(t *testing.T) {
	t.Parallel()
	reg := harness.StartReferrersRegistry(t)
	alice, bob := &notationEnv{dir: t.TempDir()}, &notationEnv{dir: t.TempDir()}
	aliceCA, bobCA := alice.testCert(t, "alice.example"), bob.testCert(t, "bob.example")
	img := harness.Push(t, reg.Host, "demo/app:v1")
	alice.run(t, "sign", "--insecure-registry", "--force-referrers-tag=false", img.String())
	alice.run(t, "sign", "--insecure-registry", "--force-referrers-tag=false", "--signature-format", "cose", img.String())
	// "team" trusts both CAs, "alice" only hers: alice's signatures are
	// valid for both roots, and count once; bob's count for "team".
	oneVote{
		policy:  notationPolicy(reg.Host+"/**", map[string]string{"team": aliceCA + bobCA, "alice": aliceCA}, `{trustRoot: "*", threshold: 2}`),
		dup:     notationPolicy(reg.Host+"/**", map[string]string{"a": aliceCA, "b": aliceCA}, `{trustRoot: "*", threshold: 2}`),
		dupErr:  "validators[0].trustRoots[1].cert: the same CA certificates as validators[0].trustRoots[0]",
		second:  func() { bob.run(t, "sign", "--insecure-registry", "--force-referrers-tag=false", img.String()) },
		signers: "alice,team",
	}.check(t, img)
}

// oneVote is a threshold-2 policy an image signed by one signer fails, the
// same signer under two trust-root names (rejected when it loads), and how
// a second signer is added, after which the policy passes.
type oneVote struct {
	policy, dup, dupErr string
	second              func()
	signers             string
}

func (o oneVote) check(t *testing.T, img name.Digest) {
	t.Helper()
	code, ds, se := signet(t, o.policy, img.String())
	d := one(t, ds)
	expect(t, code, d, se, 1, verify.Failed, img.DigestStr())
	if !strings.Contains(d.Reason, "1 of 2 required") || !strings.Contains(d.Reason, "distinct signer") {
		t.Errorf("reason: %s", d.Reason)
	}
	if code, _, se = signet(t, o.dup, img.String()); code != 2 || !strings.Contains(se, o.dupErr) {
		t.Errorf("one signer under two names: exit %d, stderr %s", code, se)
	}
	o.second()
	code, ds, se = signet(t, o.policy, img.String())
	d = one(t, ds)
	expect(t, code, d, se, 0, verify.Verified, img.DigestStr())
	if strings.Join(d.Signers, ",") != o.signers {
		t.Errorf("signers = %v, want %s", d.Signers, o.signers)
	}
}

// TestNotationUntrustedCA: a signature made by the real notation CLI with
// a certificate from a CA the policy does not trust is denied at every
// verification level. notation-go only logs that failure at the audit
// level; signet never counts it.
func TestNotationUntrustedCA(t *testing.T) {
	t.Parallel()
	reg := harness.StartReferrersRegistry(t)
	n := &notationEnv{dir: t.TempDir()}
	n.testCert(t, "attacker.example")
	trusted := (&notationEnv{dir: t.TempDir()}).testCert(t, "release.example")
	img := harness.Push(t, reg.Host, "demo/app:v1")
	n.run(t, "sign", "--insecure-registry", "--force-referrers-tag=false", img.String())
	for _, with := range []string{"", "{verificationLevel: strict}", "{verificationLevel: permissive}", "{verificationLevel: audit}"} {
		code, ds, se := signet(t, notationPolicy(reg.Host+"/**", map[string]string{"release": trusted}, with), img.String())
		d := one(t, ds)
		expect(t, code, d, se, 1, verify.Failed, img.DigestStr())
		if len(d.Signers) != 0 || d.Pinned != "" {
			t.Errorf("with %s: signers %v, pinned %q", with, d.Signers, d.Pinned)
		}
		if with == "{verificationLevel: audit}" && !strings.Contains(d.Reason+strings.Join(reasons(d.Checks), " "), "authenticity") {
			t.Errorf("with %s: nothing says authenticity failed: %s %+v", with, d.Reason, d.Checks)
		}
	}
}

func reasons(cs []verify.Check) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Reason)
	}
	return out
}

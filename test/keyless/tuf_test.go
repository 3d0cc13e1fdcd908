package keyless

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
	"github.com/signet-dev/signet/test/harness"
	"github.com/signet-dev/signet/test/tufrepo"
)

// tufMirror is a real TUF repository served on loopback, distributing a
// Sigstore trusted root as the target trusted_root.json, the name
// sigstore-go's TUF client asks for. signet allows an http:// mirror
// (tuf.mirror is an http(s) URL): TUF metadata is signed, so the transport
// adds no trust.
type tufMirror struct {
	*tufrepo.Repo
	pinned []byte // the root the policy pins (tuf.root): the repository's own unless a test changes it
}

func startTUFMirror(t *testing.T) *tufMirror {
	t.Helper()
	r := tufrepo.Start(t, time.Now())
	return &tufMirror{Repo: r, pinned: r.Root}
}

// publish makes version v of the repository, expiring at expires, the one
// served, with trustedRoot as trusted_root.json; tamper serves the
// target's bytes changed after the targets metadata recorded their hash.
func (r *tufMirror) publish(t *testing.T, v int64, trustedRoot []byte, expires time.Time, tamper bool) {
	t.Helper()
	r.Publish(t, v, "trusted_root.json", trustedRoot, expires, tamper)
}

// fingerprint is the trusted root signet uses now from the mirror (the
// policies naming a TUF repository share its material process-wide).
func (r *tufMirror) fingerprint(t *testing.T) string {
	t.Helper()
	m := cosign.TUFMaterial(r.URL, r.pinned).(interface {
		Fingerprint(context.Context) (string, error)
	})
	fp, err := m.Fingerprint(context.Background())
	if err != nil {
		return "error: " + err.Error()
	}
	return fp
}

// policy is a keyless policy whose validator takes its trusted material
// from the mirror: tuf: {mirror, root} with the repository's 1.root.json
// inline.
func (r *tufMirror) policy(s *harness.Sigstore) string {
	rootStr, _ := json.Marshal(string(r.pinned))
	p := keylessPolicy(s, exact(s, alice), "")
	return strings.Replace(p, "  trustedRootFile: "+s.TrustedRootFile+"\n",
		fmt.Sprintf("  tuf:\n    mirror: %s\n    root: %s\n", r.URL, rootStr), 1)
}

// withRotatedRekorKey is trustedRoot with a second Rekor log key, valid
// from now: what a trusted root looks like while Rekor's key rotates.
func withRotatedRekorKey(t *testing.T, trustedRoot []byte) []byte {
	t.Helper()
	var tr map[string]any
	if err := json.Unmarshal(trustedRoot, &tr); err != nil {
		t.Fatal(err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	id := sha256.Sum256(der)
	tlogs := tr["tlogs"].([]any)
	old := tlogs[0].(map[string]any)
	tr["tlogs"] = append(tlogs, map[string]any{
		"baseUrl":       old["baseUrl"],
		"hashAlgorithm": "SHA2_256",
		"publicKey": map[string]any{
			"rawBytes":   base64.StdEncoding.EncodeToString(der),
			"keyDetails": "PKIX_ECDSA_P256_SHA_256",
			"validFor":   map[string]any{"start": time.Now().UTC().Format(time.RFC3339)},
		},
		"logId": map[string]any{"keyId": base64.StdEncoding.EncodeToString(id[:])},
	})
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cosign.ParseTrustedRoot(b); err != nil {
		t.Fatalf("the rotated trusted root does not parse: %v", err)
	}
	return b
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// testTUF: a validator with tuf: {mirror, root} fetches the local
// Sigstore's trusted root from a real TUF repository at its first keyless
// use, verifies it against the pinned root, and verifies a signature made
// by the real cosign with it; it picks up a new version at refresh (at
// half the metadata's remaining validity), serves the cached copy while
// the mirror is down until the metadata expires and is inconclusive after;
// it rejects a tampered target and a rolled-back repository. Clocks are
// real: metadata expiring in seconds drives refresh and expiry.
func testTUF(t *testing.T, s *harness.Sigstore) {
	reg := harness.StartReferrersRegistry(t)
	img := harness.Push(t, reg.Host, "demo/tuf:v1")
	newCosign(t, s).Run(t, harness.Tool(t, "cosign2"), "sign", "--yes", "--fulcio-url", s.FulcioURL, "--rekor-url", s.RekorURL,
		"--oidc-issuer", s.Issuer(), "--identity-token", s.Token(t, alice), "--insecure-skip-verify",
		"--allow-insecure-registry", "--allow-http-registry", img.String())
	ref := img.String()

	compile := func(t *testing.T, m *tufMirror) *policy.Engine {
		t.Helper()
		doc, err := policy.Parse([]byte(harness.ListInsecure(m.policy(s), ref)))
		if err != nil {
			t.Fatal(err)
		}
		eng, err := policy.Compile(doc, registry.MustNew())
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	evaluate := func(t *testing.T, m *tufMirror) policy.Decision {
		t.Helper()
		eng := compile(t, m)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return eng.EvaluateFor(ctx, "", ref)
	}
	// eventually evaluates until the outcome is want (the first fetch
	// and refreshes run in the background).
	eventually := func(t *testing.T, m *tufMirror, want verify.Outcome, has string, within time.Duration) policy.Decision {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			d := evaluate(t, m)
			if d.Outcome == want && strings.Contains(d.Reason, has) {
				return d
			}
			if time.Now().After(deadline) {
				t.Fatalf("outcome %s (%s), want %s containing %q within %s", d.Outcome, d.Reason, want, has, within)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitUntil := func(at time.Time) { time.Sleep(time.Until(at)) }

	t.Run("fetched at first use, refreshed, cached while the mirror is down, inconclusive after expiry", func(t *testing.T) {
		t.Parallel()
		m := startTUFMirror(t)
		t0 := time.Now()
		m.publish(t, 1, s.TrustedRoot, t0.Add(16*time.Second), false)
		compile(t, m)
		if n := m.Hits.Load(); n != 0 {
			t.Fatalf("compiling the policy fetched %d TUF files: want none before the first keyless use", n)
		}
		d := eventually(t, m, verify.Verified, "", 10*time.Second)
		if !d.Allowed || strings.Join(d.Signers, ",") != "id" {
			t.Fatalf("%+v", d)
		}
		if fp := m.fingerprint(t); fp != sum(s.TrustedRoot) {
			t.Fatalf("fingerprint %s, want the trusted root's", fp)
		}

		// Rekor's key rotates: version 2 lists both keys. It is picked up
		// at the refresh due at half the remaining validity (~8s).
		rotated := withRotatedRekorKey(t, s.TrustedRoot)
		m.publish(t, 2, rotated, time.Now().Add(30*time.Second), false)
		deadline := time.Now().Add(20 * time.Second)
		for m.fingerprint(t) != sum(rotated) {
			if time.Now().After(deadline) {
				t.Fatalf("version 2 not picked up: fingerprint %s", m.fingerprint(t))
			}
			evaluate(t, m) // a use triggers the refresh
			time.Sleep(250 * time.Millisecond)
		}
		expires := m.Expiry(t)
		eventually(t, m, verify.Verified, "", time.Second)

		// The mirror goes away: the cached copy serves until the TUF
		// metadata it came with expires, then keyless verification is
		// inconclusive, saying why.
		m.Down.Store(true)
		eventually(t, m, verify.Verified, "", time.Second)
		waitUntil(expires.Add(-3 * time.Second))
		eventually(t, m, verify.Verified, "", time.Second)
		waitUntil(expires.Add(time.Second))
		d = eventually(t, m, verify.Inconclusive, "too old to trust", 2*time.Second)
		if d.Allowed {
			t.Fatalf("allowed: %+v", d)
		}
	})

	t.Run("tampered target is rejected", func(t *testing.T) {
		t.Parallel()
		m := startTUFMirror(t)
		m.publish(t, 1, s.TrustedRoot, time.Now().Add(time.Hour), true)
		d := eventually(t, m, verify.Inconclusive, "fetching the Sigstore trusted root from TUF repository", 10*time.Second)
		if d.Allowed || !strings.Contains(d.Reason, "hash") {
			t.Fatalf("want a denial naming the hash mismatch: %+v", d)
		}
	})

	t.Run("a repository not signed by the pinned root is rejected", func(t *testing.T) {
		t.Parallel()
		m := startTUFMirror(t)
		m.publish(t, 1, s.TrustedRoot, time.Now().Add(time.Hour), false)
		// The policy pins another repository's root: the mirror's
		// metadata is not signed by the keys it names.
		m.pinned = tufrepo.Start(t, time.Now()).Root
		d := eventually(t, m, verify.Inconclusive, "fetching the Sigstore trusted root from TUF repository", 10*time.Second)
		if d.Allowed || !strings.Contains(d.Reason, "Verifying timestamp failed, not enough signatures") {
			t.Fatalf("want a denial naming the unsigned metadata: %+v", d)
		}
	})

	t.Run("rolled-back repository is rejected", func(t *testing.T) {
		t.Parallel()
		m := startTUFMirror(t)
		// Version 2 is seen first; then the mirror serves version 1 again,
		// validly signed and unexpired, whose trusted root differs.
		m.publish(t, 2, s.TrustedRoot, time.Now().Add(10*time.Second), false)
		eventually(t, m, verify.Verified, "", 10*time.Second)
		expires := m.Expiry(t)
		old := withRotatedRekorKey(t, s.TrustedRoot)
		m.publish(t, 1, old, time.Now().Add(time.Hour), false)
		// Refreshes from ~5s on fail: the cached version 2 serves until
		// its metadata expires, then the denial names the rollback.
		waitUntil(expires.Add(-2 * time.Second))
		eventually(t, m, verify.Verified, "", time.Second)
		if fp := m.fingerprint(t); fp != sum(s.TrustedRoot) {
			t.Fatalf("the rolled-back trusted root is in use (fingerprint %s)", fp)
		}
		waitUntil(expires.Add(time.Second))
		d := eventually(t, m, verify.Inconclusive, "rolled back", 2*time.Second)
		if d.Allowed || m.fingerprint(t) == sum(old) {
			t.Fatalf("%+v", d)
		}
	})
}

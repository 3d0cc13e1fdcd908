package keyless

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

const (
	alice = "alice@example.test"
	bob   = "bob@example.test"
)

// format is one way cosign stores a keyless signature, with the registry
// it is tested on.
type format struct {
	name     string
	registry func(testing.TB) *harness.Proc
	// referrersAPI is whether that registry has the OCI 1.1 referrers API.
	referrersAPI bool
	// sign signs img as email, uploading to Rekor when tlog is true.
	sign func(t *testing.T, s *harness.Sigstore, c *harness.Cosign, email string, img name.Digest, tlog bool)
	// verify is cosign's own verification of what sign made: the fixture
	// is right when cosign accepts it.
	verify func(t *testing.T, s *harness.Sigstore, c *harness.Cosign, email string, img name.Digest, tlog bool) error
	// tampers alter the transparency-log evidence of a signature in place.
	tampers []tamper
}

var formats = []format{
	{
		name:     "cosign v2 legacy .sig",
		registry: harness.StartDistribution,
		sign: func(t *testing.T, s *harness.Sigstore, c *harness.Cosign, email string, img name.Digest, tlog bool) {
			args := []string{"sign", "--yes", "--fulcio-url", s.FulcioURL, "--rekor-url", s.RekorURL,
				"--oidc-issuer", s.Issuer(), "--identity-token", s.Token(t, email),
				"--allow-insecure-registry", "--allow-http-registry"}
			if !tlog {
				args = append(args, "--tlog-upload=false")
			}
			if s.CTLogURL == "" { // a Fulcio without CT: no SCT to check
				args = append(args, "--insecure-skip-verify")
			}
			c.Run(t, harness.Tool(t, "cosign2"), append(args, img.String())...)
		},
		verify: func(t *testing.T, s *harness.Sigstore, c *harness.Cosign, email string, img name.Digest, tlog bool) error {
			args := []string{"verify", "--rekor-url", s.RekorURL,
				"--certificate-identity", email, "--certificate-oidc-issuer", s.Issuer(),
				"--allow-insecure-registry", "--allow-http-registry"}
			if !tlog {
				args = append(args, "--insecure-ignore-tlog")
			}
			_, err := c.Try(harness.Tool(t, "cosign2"), append(args, img.String())...)
			return err
		},
		tampers: legacyTampers,
	},
	{
		name:         "cosign v3 bundle, referrers API",
		registry:     harness.StartReferrersRegistry,
		referrersAPI: true,
		sign:         signV3,
		verify:       verifyV3,
		tampers:      bundleTampers,
	},
	{
		name:     "cosign v3 bundle, referrers tag schema",
		registry: harness.StartDistribution,
		sign:     signV3,
		verify:   verifyV3,
		tampers:  bundleTampers,
	},
}

// signV3 signs with cosign v3's default, a Sigstore bundle stored as an OCI
// referrer, through a signing config naming the local stack (without Rekor
// when tlog is false: cosign v3 refuses --tlog-upload=false).
func signV3(t *testing.T, s *harness.Sigstore, c *harness.Cosign, email string, img name.Digest, tlog bool) {
	c.Run(t, harness.Tool(t, "cosign3"), "sign", "--yes", "--signing-config", s.SigningConfig(t, tlog, false),
		"--trusted-root", s.TrustedRootFile, "--identity-token", s.Token(t, email),
		"--allow-insecure-registry", "--allow-http-registry", img.String())
}

func verifyV3(t *testing.T, s *harness.Sigstore, c *harness.Cosign, email string, img name.Digest, tlog bool) error {
	args := []string{"verify", "--trusted-root", s.TrustedRootFile,
		"--certificate-identity", email, "--certificate-oidc-issuer", s.Issuer(),
		"--allow-insecure-registry", "--allow-http-registry"}
	if !tlog {
		args = append(args, "--insecure-ignore-tlog")
	}
	_, err := c.Try(harness.Tool(t, "cosign3"), append(args, img.String())...)
	return err
}

// TestKeyless signs images keylessly with the real cosign CLIs against one
// local Sigstore stack (one per network namespace: Rekor's metrics port is
// fixed) and checks what the built signet binary decides.
func TestKeyless(t *testing.T) {
	s := harness.StartSigstore(t)
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			testFormat(t, s, f)
		})
	}
	t.Run("RFC 3161 timestamps", func(t *testing.T) {
		t.Parallel()
		testTSA(t, s)
	})
	t.Run("sigstore-go verifies against the trusted root", func(t *testing.T) {
		t.Parallel()
		testSigstoreGo(t, s)
	})
	t.Run("attestations", func(t *testing.T) {
		t.Parallel()
		testAttestations(t, s)
	})
	t.Run("RFC 3161 timestamps, notation", func(t *testing.T) {
		t.Parallel()
		testNotationTSA(t, s)
	})
	t.Run("signet explain", func(t *testing.T) {
		t.Parallel()
		testExplain(t, s)
	})
	t.Run("SCT", func(t *testing.T) {
		t.Parallel()
		testSCT(t, s)
	})
	t.Run("trusted root from a TUF repository", func(t *testing.T) {
		t.Parallel()
		testTUF(t, s)
	})
}

// newCosign is a cosign home of the test's own (parallel tests do not
// share cosign's caches) that trusts the stack.
func newCosign(t *testing.T, s *harness.Sigstore) *harness.Cosign {
	c := harness.NewCosign(t)
	c.Env = s.CosignEnv()
	return c
}

func testFormat(t *testing.T, s *harness.Sigstore, f format) {
	reg := f.registry(t)
	c := newCosign(t, s)
	h := reg.Host
	img := harness.Push(t, h, "demo/app:alice")
	f.sign(t, s, c, alice, img, true)
	if err := f.verify(t, s, c, alice, img, true); err != nil {
		t.Fatalf("cosign rejects the fixture: %v", err)
	}
	ref, digest := h+"/demo/app:alice", img.DigestStr()

	for _, tc := range []struct {
		name    string
		id      identity
		with    string
		code    int
		outcome verify.Outcome
	}{
		{"identity match is allowed", exact(s, alice), "", 0, verify.Verified},
		{"another subject is denied", exact(s, bob), "", 1, verify.Failed},
		{"another issuer is denied", identity{Issuer: "http://127.0.0.1:1", Subject: alice}, "", 1, verify.Failed},
		{"issuer with a trailing slash is another issuer", identity{Issuer: s.Issuer() + "/", Subject: alice}, "", 1, verify.Failed},
		{"subjectRegex and issuerRegex matching are allowed", identity{IssuerRegex: issuerRE(s), SubjectRegex: `@example\.test$`}, "", 0, verify.Verified},
		{"subjectRegex not matching is denied", identity{IssuerRegex: issuerRE(s), SubjectRegex: `^bob@`}, "", 1, verify.Failed},
		{"issuerRegex not matching is denied", identity{IssuerRegex: `^https://accounts\.example\.test$`, SubjectRegex: `@example\.test$`}, "", 1, verify.Failed},
		{"exact subject with issuerRegex is allowed", identity{IssuerRegex: issuerRE(s), Subject: alice}, "", 0, verify.Verified},
		{"verifyInTransparencyLog false still accepts a logged signature", exact(s, alice), ", verifyInTransparencyLog: false", 0, verify.Verified},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			expect(t, keylessPolicy(s, tc.id, tc.with), ref, digest, tc.code, tc.outcome)
		})
	}

	t.Run("overlapping identities: one person is one signer", func(t *testing.T) {
		t.Parallel()
		// "team" (a subject regex) and "alice" (her exact subject) both
		// accept alice's signature: threshold 2 needs someone else too.
		p := strings.Replace(keylessPolicy(s, identity{Issuer: s.Issuer(), SubjectRegex: `@example\.test$`}, ""), "  - name: id\n", "  - name: team\n", 1)
		idJSON, _ := json.Marshal(exact(s, alice))
		p = strings.Replace(p, "rules:\n", "  - name: alice\n    keyless: "+string(idJSON)+"\nrules:\n", 1)
		p = strings.Replace(p, "with: {trustRoot: id", `with: {trustRoot: "*", threshold: 2`, 1)
		c := newCosign(t, s)
		both := harness.Push(t, h, "demo/app:two-people")
		f.sign(t, s, c, alice, both, true)
		f.sign(t, s, c, alice, both, true) // alice again: still one signer
		for _, one := range []name.Digest{img, both} {
			code, ds, se := signet(t, p, one.String())
			if code != 1 || len(ds) != 1 || !strings.Contains(ds[0].Reason, "1 of 2 required") {
				t.Fatalf("%s signed by alice: exit %d, %+v\nstderr: %s\npolicy:\n%s", one, code, ds, se, p)
			}
		}
		f.sign(t, s, c, bob, both, true)
		code, ds, se := signet(t, p, both.String())
		if code != 0 || len(ds) != 1 || strings.Join(ds[0].Signers, ",") != "alice,team" {
			t.Fatalf("signed by alice and bob: exit %d, %+v\nstderr: %s", code, ds, se)
		}
	})

	t.Run("unsigned is denied", func(t *testing.T) {
		t.Parallel()
		u := harness.Push(t, h, "demo/app:unsigned")
		expect(t, keylessPolicy(s, exact(s, alice), ""), u.String(), u.DigestStr(), 1, verify.Failed)
	})

	t.Run("signature without a transparency log entry", func(t *testing.T) {
		t.Parallel()
		c := newCosign(t, s)
		nolog := harness.Push(t, h, "demo/app:no-tlog")
		f.sign(t, s, c, alice, nolog, false)
		if err := f.verify(t, s, c, alice, nolog, false); err != nil {
			t.Fatalf("cosign rejects the fixture: %v", err)
		}
		// Denied by default: nothing proves when the short-lived
		// certificate was used.
		expect(t, keylessPolicy(s, exact(s, alice), ""), nolog.String(), nolog.DigestStr(), 1, verify.Failed)
		expect(t, keylessPolicy(s, exact(s, alice), ", verifyInTransparencyLog: false"), nolog.String(), nolog.DigestStr(), 0, verify.Verified)
	})

	for _, tm := range f.tampers {
		t.Run("tampered tlog entry: "+tm.name, func(t *testing.T) {
			t.Parallel()
			c := newCosign(t, s)
			victim := harness.Push(t, h, "demo/tamper:"+tm.tag)
			f.sign(t, s, c, alice, victim, true)
			tm.apply(t, victim, f.referrersAPI)
			// cosign agrees: the tampering breaks verification, and
			// re-pushing an untouched copy (the control) does not.
			err := f.verify(t, s, c, alice, victim, true)
			if tm.control && err != nil {
				t.Fatalf("cosign rejects the re-pushed signature: %v", err)
			}
			if !tm.control && err == nil {
				t.Fatal("cosign accepts the tampered signature: the fixture does not tamper")
			}
			code, outcome := 1, verify.Failed
			if tm.control {
				code, outcome = 0, verify.Verified
			}
			expect(t, keylessPolicy(s, exact(s, alice), ""), victim.String(), victim.DigestStr(), code, outcome)
			// Waiving the log waives its absence only: an entry that is
			// present must verify, for legacy signatures as for bundles.
			expect(t, keylessPolicy(s, exact(s, alice), ", verifyInTransparencyLog: false"), victim.String(), victim.DigestStr(), code, outcome)
		})
	}
}

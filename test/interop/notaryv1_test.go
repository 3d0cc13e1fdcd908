package interop

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/notaryv1"
	"github.com/signet-dev/signet/test/harness"
)

// pushed is an image pushed to a registry: its digest and manifest size,
// what `notary addhash` signs.
type pushed struct {
	digest name.Digest
	size   int
}

func (p pushed) hex() string { return strings.TrimPrefix(p.digest.DigestStr(), "sha256:") }

func pushImage(t *testing.T, ref string) pushed {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(tag, img); err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	d, _ := img.Digest()
	return pushed{digest: tag.Context().Digest(d.String()), size: len(raw)}
}

// rootPublicKey returns the root public key (PEM) of a root.json: the
// public key of the root role's certificate, what
// `... | base64 -d | openssl x509 -pubkey -noout` prints.
func rootPublicKey(t *testing.T, rootJSON []byte) string {
	t.Helper()
	var root struct {
		Signed struct {
			Keys map[string]struct {
				KeyVal struct {
					Public string `json:"public"`
				} `json:"keyval"`
			} `json:"keys"`
			Roles map[string]struct {
				KeyIDs []string `json:"keyids"`
			} `json:"roles"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(rootJSON, &root); err != nil {
		t.Fatal(err)
	}
	certPEM, err := base64.StdEncoding.DecodeString(root.Signed.Keys[root.Signed.Roles["root"].KeyIDs[0]].KeyVal.Public)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(cert.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func otherPublicKey(t *testing.T) string {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// notaryPolicy is a policy whose rule for pattern uses a notaryv1
// validator on host trusting keys, with extra "with" options.
func notaryPolicy(host, ca, pattern string, keys map[string]string, with string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators:\n- name: dct\n  type: notaryv1\n  host: %s\n", host)
	fmt.Fprintf(&b, "  cert: |\n    %s\n  trustRoots:\n", strings.ReplaceAll(strings.TrimSpace(ca), "\n", "\n    "))
	for _, n := range sortedNames(keys) {
		fmt.Fprintf(&b, "  - name: %s\n    key: |\n      %s\n", n, strings.ReplaceAll(strings.TrimSpace(keys[n]), "\n", "\n      "))
	}
	fmt.Fprintf(&b, "rules:\n- pattern: %q\n  validator: dct\n", pattern)
	if with != "" {
		fmt.Fprintf(&b, "  with: %s\n", with)
	}
	return b.String()
}

// TestNotaryV1 runs the built signet against a real notary-server and
// notary-signer with token auth over TLS, holding trust data published by
// the real notary client, for images in a real registry.
func TestNotaryV1(t *testing.T) {
	t.Parallel()
	reg := harness.StartDistribution(t)
	n := harness.StartNotary(t)
	c := n.Client(t)
	repo := reg.Host + "/dct/app"
	gun := repo

	// v1 is signed by the targets role; v2 by the targets/releases
	// delegation, as `docker trust sign` does once a signer is added.
	v1 := pushImage(t, repo+":v1")
	v2 := pushImage(t, repo+":v2")
	c.Run(t, "init", "-p", gun)
	c.Run(t, "key", "rotate", gun, "snapshot", "-r") // server-managed snapshot, as on Docker Hub
	c.Run(t, "addhash", "-p", gun, "v1", fmt.Sprint(v1.size), "--sha256", v1.hex())
	// The trust data as it stands now: older versions of every role, to
	// replay later.
	oldMeta := n.TrustData(t, gun, "root", "timestamp", "snapshot", "targets")
	crt := c.DelegationKey(t, "targets/releases", "alice")
	c.Run(t, "delegation", "add", "-p", gun, "targets/releases", crt, "--all-paths")
	c.Run(t, "addhash", "-p", gun, "v2", fmt.Sprint(v2.size), "--sha256", v2.hex(), "--roles", "targets/releases")
	// After signing, v1 moves in the registry: the signed digest still rules.
	moved := pushImage(t, repo+":v1")

	rootKey := rootPublicKey(t, c.RootJSON(t, gun))
	ca := string(n.CAPEM)
	creds := n.DockerConfig(t)
	good := notaryPolicy(n.URL, ca, reg.Host+"/**", map[string]string{"release": rootKey}, "")
	pinned := func(p pushed) string { return repo + "@" + p.digest.DigestStr() }
	// good, plus a static deny of one digest (docs/policy.md, "Which rule
	// applies"): what a tag names is the trust data's to the notaryv1
	// rule and the registry's to the static one.
	denying := func(p pushed) string {
		return strings.Replace(good, "rules:\n", "- {name: deny, type: static, approve: false}\nrules:\n", 1) +
			fmt.Sprintf("- {pattern: %q, validator: deny}\n", pinned(p))
	}

	tests := []struct {
		name    string
		policy  string
		image   string
		docker  string // DOCKER_CONFIG; creds by default
		code    int
		pinned  string
		reasons []string
	}{
		{name: "tag signed by a delegation: allowed, pinned to the signed digest", policy: good,
			image: repo + ":v2", code: 0, pinned: pinned(v2)},
		{name: "tag moved in the registry after signing: pinned to the signed digest", policy: good,
			image: repo + ":v1", code: 0, pinned: pinned(v1)},
		{name: "digest signed", policy: good, image: pinned(v2), code: 0, pinned: pinned(v2)},
		{name: "tag and digest agree", policy: good, image: repo + ":v1@" + v1.digest.DigestStr(), code: 0, pinned: pinned(v1)},
		{name: "tag and digest disagree", policy: good, image: repo + ":v1@" + moved.digest.DigestStr(), code: 1,
			reasons: []string{"signs tag \"v1\" as " + v1.digest.DigestStr()}},
		{name: "unsigned digest (the registry's v1 now)", policy: good, image: pinned(moved), code: 1,
			reasons: []string{"is not signed in the trust data of " + gun}},
		{name: "digest denied, named by the tag in the trust data but no longer in the registry", policy: denying(v1),
			image: repo + ":v1", code: 1, reasons: []string{`the registry and the signed trust data disagree on what tag "v1" names`}},
		{name: "digest denied, named by the tag in the registry but not in the trust data", policy: denying(moved),
			image: repo + ":v1", code: 1, reasons: []string{"denied by static rule"}},
		{name: "digest denied, by digest", policy: denying(v1), image: pinned(v1), code: 1, reasons: []string{"denied by static rule"}},
		{name: "digest denied, as tag@digest", policy: denying(v1), image: repo + ":v1@" + v1.digest.DigestStr(), code: 1,
			reasons: []string{"denied by static rule"}},
		{name: "another digest denied: the tag is allowed", policy: denying(v1), image: repo + ":v2", code: 0, pinned: pinned(v2)},
		{name: "unknown tag", policy: good, image: repo + ":v9", code: 1,
			reasons: []string{`tag "v9" is not signed in the trust data of ` + gun}},
		{name: "unknown repository", policy: good, image: reg.Host + "/dct/other:v1", code: 1,
			reasons: []string{"root.json", "not found"}},
		{name: "wrong root key", image: repo + ":v2", code: 1,
			policy:  notaryPolicy(n.URL, ca, reg.Host+"/**", map[string]string{"release": otherPublicKey(t)}, ""),
			reasons: []string{"not signed with the pinned root key of trust root \"release\""}},
		{name: "delegation required and present", image: repo + ":v2", code: 0, pinned: pinned(v2),
			policy: notaryPolicy(n.URL, ca, reg.Host+"/**", map[string]string{"release": rootKey}, "{delegations: [releases]}")},
		{name: "delegation required but missing", image: repo + ":v1", code: 1,
			policy:  notaryPolicy(n.URL, ca, reg.Host+"/**", map[string]string{"release": rootKey}, "{delegations: [targets/releases]}"),
			reasons: []string{`tag "v1" of ` + gun + ` is not signed by required delegation targets/releases`}},
		{name: "delegation required, digest given", image: pinned(v1), code: 1,
			policy:  notaryPolicy(n.URL, ca, reg.Host+"/**", map[string]string{"release": rootKey}, "{delegations: [releases]}"),
			reasons: []string{"is not signed by required delegation targets/releases"}},
		{name: "threshold 2, only one trust root is the real root", image: repo + ":v2", code: 1,
			policy:  notaryPolicy(n.URL, ca, reg.Host+"/**", map[string]string{"release": rootKey, "other": otherPublicKey(t)}, `{trustRoot: "*", threshold: 2}`),
			reasons: []string{"1 of 2 required valid signatures"}},
		{name: "threshold 1 of two trust roots", image: repo + ":v2", code: 0, pinned: pinned(v2),
			policy: notaryPolicy(n.URL, ca, reg.Host+"/**", map[string]string{"release": rootKey, "other": otherPublicKey(t)}, `{trustRoot: "*"}`)},
		{name: "required trust root that did not sign", image: repo + ":v2", code: 1,
			policy:  notaryPolicy(n.URL, ca, reg.Host+"/**", map[string]string{"release": rootKey, "other": otherPublicKey(t)}, `{trustRoot: "*", required: [other]}`),
			reasons: []string{"no valid signature from required trust roots [other]"}},
		{name: "no credentials for the Notary server: inconclusive", policy: good, image: repo + ":v2", docker: t.TempDir(), code: 3,
			reasons: []string{"HTTP 401", n.Host}},
		{name: "Notary server unreachable: inconclusive", image: repo + ":v2", code: 3,
			policy:  notaryPolicy("https://"+harness.FreeAddr(t), ca, reg.Host+"/**", map[string]string{"release": rootKey}, ""),
			reasons: []string{"Notary server unreachable", gun}},
		{name: "Notary server's CA not trusted: inconclusive", image: repo + ":v2", code: 3,
			policy:  strings.Replace(good, strings.ReplaceAll(strings.TrimSpace(ca), "\n", "\n    "), strings.ReplaceAll(strings.TrimSpace(otherCA(t)), "\n", "\n    "), 1),
			reasons: []string{"certificate"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			docker := tc.docker
			if docker == "" {
				docker = creds
			}
			code, ds, stderr := signetWithDocker(t, docker, tc.policy, tc.image)
			if code != tc.code || len(ds) != 1 {
				t.Fatalf("exit %d, want %d: %+v\n%s", code, tc.code, ds, stderr)
			}
			d := ds[0]
			t.Logf("%s: %s", d.Outcome, d.Reason)
			if stderr != "" {
				t.Errorf("stderr is not empty (a library logging?):\n%s", stderr)
			}
			if d.Pinned != tc.pinned {
				t.Errorf("pinned %q, want %q (%s)", d.Pinned, tc.pinned, d.Reason)
			}
			for _, r := range tc.reasons {
				if !strings.Contains(d.Reason, r) {
					t.Errorf("reason %q lacks %q", d.Reason, r)
				}
			}
		})
	}

	// signet explain says the digest is the trust data's, not the
	// registry's (v1 has moved there since it was signed).
	t.Run("signet explain: the digest from the trust data", func(t *testing.T) {
		t.Parallel()
		p := filepath.Join(t.TempDir(), "policy.yaml")
		if err := os.WriteFile(p, []byte(harness.ListInsecure(good, repo)), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(harness.Bin(t, "signet"), "explain", "--policy", p, "--output", "json", repo+":v1")
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+creds)
		code, stdout, stderr := harness.ExitCode(t, cmd)
		var tr policy.Trace
		if err := json.Unmarshal([]byte(stdout), &tr); code != 0 || err != nil {
			t.Fatalf("exit %d (%v)\n%s\n%s", code, err, stdout, stderr)
		}
		if len(tr.Digests) != 1 || tr.Digests[0].Source != policy.DigestFromTrustData || tr.Digests[0].Digest != v1.digest.DigestStr() {
			t.Errorf("digests %+v, want %s from the trust data", tr.Digests, v1.digest.DigestStr())
		}
		if len(tr.Verifications) != 1 || !slices.ContainsFunc(tr.Verifications[0].Checks, func(c verify.Check) bool {
			return c.Passed && c.Source == verify.SourceNotaryV1 && c.TrustRoot == "release"
		}) {
			t.Errorf("verifications %+v", tr.Verifications)
		}
	})

	// Rollback: once newer trust data was seen, the older versions the
	// client had before adding the delegation (valid by themselves) are
	// refused.
	t.Run("rollback refused", func(t *testing.T) {
		t.Parallel()
		key, err := notaryv1.ParsePublicKey([]byte(rootKey))
		if err != nil {
			t.Fatal(err)
		}
		kc := staticKeychain{n.Host, &authn.Basic{Username: n.User, Password: n.Pass}}
		roots := []notaryv1.TrustRoot{{Name: "release", Key: key}}
		q := verify.Quorum{Roots: []string{"release"}, Threshold: 1}
		ref, _ := imageref.Parse(repo + ":v1")
		resolve := func(opts ...notaryv1.Option) error {
			v, err := notaryv1.New(n.URL, roots, q, append([]notaryv1.Option{notaryv1.WithCABundle(n.CAPEM), notaryv1.WithKeychain(kc)}, opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d, err := v.ResolveTag(ctx, ref)
			if err == nil {
				_, err = v.Verify(ctx, verify.Image{Ref: d})
			}
			return err
		}
		replay, reads := replayServer(t, gun, oldMeta)
		if err := resolve(notaryv1.WithTransport(replay)); err != nil {
			t.Fatalf("old trust data on its own: %v", err)
		}
		// ResolveTag then Verify, as the engine calls them: each file once.
		if n := reads.Load(); n != 4 {
			t.Errorf("%d trust data reads, want 4 (root, timestamp, snapshot, targets)", n)
		}
		seen := notaryv1.NewVersions()
		if err := resolve(notaryv1.WithVersions(seen)); err != nil {
			t.Fatalf("current trust data: %v", err)
		}
		err = resolve(notaryv1.WithVersions(seen), notaryv1.WithTransport(replay))
		if verify.Classify(err) != verify.Failed || !strings.Contains(err.Error(), "rollback refused") {
			t.Fatalf("replayed old trust data: %v", err)
		}
		t.Log(err)
	})

	// Expiry: notary-server signs timestamps for 14 days and cannot be told
	// otherwise, so the verifier runs in process, against the same servers,
	// with a clock past the timestamp's expiry.
	t.Run("expired timestamp", func(t *testing.T) {
		t.Parallel()
		key, err := notaryv1.ParsePublicKey([]byte(rootKey))
		if err != nil {
			t.Fatal(err)
		}
		kc := authn.NewMultiKeychain(staticKeychain{n.Host, &authn.Basic{Username: n.User, Password: n.Pass}})
		q := verify.Quorum{Roots: []string{"release"}, Threshold: 1}
		for _, tc := range []struct {
			after time.Duration
			want  verify.Outcome
		}{{0, verify.Verified}, {15 * 24 * time.Hour, verify.Failed}} {
			v, err := notaryv1.New(n.URL, []notaryv1.TrustRoot{{Name: "release", Key: key}}, q,
				notaryv1.WithCABundle(n.CAPEM), notaryv1.WithKeychain(kc),
				notaryv1.WithClock(func() time.Time { return time.Now().Add(tc.after) }))
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := imageref.Parse(repo + ":v2")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err = v.ResolveTag(ctx, ref)
			cancel()
			if got := verify.Classify(err); got != tc.want {
				t.Fatalf("clock +%s: %s (%v), want %s", tc.after, got, err, tc.want)
			}
			if tc.want == verify.Failed && !strings.Contains(err.Error(), "timestamp.json of "+gun+" expired") {
				t.Errorf("reason: %v", err)
			}
		}
	})
}

// replayServer serves trust data files (role → content) for gun, without
// auth, and returns a transport that sends every request to it, whatever
// the host: a Notary server replaying old trust data.
func replayServer(t *testing.T, gun string, files map[string][]byte) (http.RoundTripper, *atomic.Int32) {
	t.Helper()
	prefix := "/v2/" + gun + "/_trust/tuf/"
	var reads atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		role, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok {
			return // /v2/: 200, no auth
		}
		reads.Add(1)
		b, ok := files[strings.TrimSuffix(role, ".json")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	return tr, &reads
}

// staticKeychain answers credentials for one host.
type staticKeychain struct {
	host string
	auth authn.Authenticator
}

func (k staticKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if r.RegistryStr() == k.host {
		return k.auth, nil
	}
	return authn.Anonymous, nil
}

func otherCA(t *testing.T) string {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// signetWithDocker runs signet verify with a DOCKER_CONFIG; the harness's
// plain-HTTP registries the policy names are listed as insecure, and
// signet's warning about that is left out of the stderr returned.
func signetWithDocker(t *testing.T, dockerConfig, policyYAML string, args ...string) (int, []policy.Decision, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(harness.ListInsecure(policyYAML, args...)), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(harness.Bin(t, "signet"), append([]string{"verify", "--policy", p, "--output", "json"}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerConfig)
	code, stdout, stderr := harness.ExitCode(t, cmd)
	stderr = insecureWarning.ReplaceAllString(stderr, "")
	var ds []policy.Decision
	if len(stdout) > 0 {
		if err := json.Unmarshal([]byte(stdout), &ds); err != nil {
			t.Fatalf("decoding output: %v\n%s", err, stdout)
		}
	}
	return code, ds, stderr
}

// insecureWarning is signet verify's warning about insecureRegistries.
var insecureWarning = regexp.MustCompile(`(?m)^warning: the policy lets signet reach these registries over plain HTTP \(insecureRegistries\): .*\n`)

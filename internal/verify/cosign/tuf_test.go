package cosign

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/verify"
)

// tufRepo is a TUF repository (go-tuf's metadata API, one key per
// top-level role) served over HTTP on loopback: a Sigstore mirror whose
// trusted root and metadata expiry the test sets, and that it can take
// down.
type tufRepo struct {
	srv  *httptest.Server
	keys map[string]ed25519.PrivateKey
	root []byte // 1.root.json: the client's initial root
	down atomic.Bool

	mu    sync.Mutex
	files map[string][]byte
}

func newTUFRepo(t *testing.T, now time.Time) *tufRepo {
	t.Helper()
	r := &tufRepo{keys: map[string]ed25519.PrivateKey{}, files: map[string][]byte{}}
	root := metadata.Root(now.AddDate(1, 0, 0))
	for _, role := range []string{metadata.ROOT, metadata.TARGETS, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		r.keys[role] = priv
		k, err := metadata.KeyFromPublicKey(priv.Public())
		if err != nil {
			t.Fatal(err)
		}
		if err := root.Signed.AddKey(k, role); err != nil {
			t.Fatal(err)
		}
	}
	r.sign(t, root, metadata.ROOT)
	r.root = r.bytes(t, root)
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		r.mu.Lock()
		b, ok := r.files[strings.TrimPrefix(req.URL.Path, "/")]
		r.mu.Unlock()
		if !ok {
			http.NotFound(w, req)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *tufRepo) sign(t *testing.T, md interface {
	Sign(signature.Signer) (*metadata.Signature, error)
}, role string) {
	t.Helper()
	s, err := signature.LoadSigner(r.keys[role], crypto.Hash(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := md.Sign(s); err != nil {
		t.Fatal(err)
	}
}

func (r *tufRepo) bytes(t *testing.T, md interface{ ToBytes(bool) ([]byte, error) }) []byte {
	t.Helper()
	b, err := md.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publish serves trustedRoot as trusted_root.json, under metadata that
// expires at expires.
func (r *tufRepo) publish(t *testing.T, trustedRoot []byte, expires time.Time) {
	t.Helper()
	r.publishVersion(t, 1, trustedRoot, expires)
}

// publishVersion serves version v of the targets, snapshot and timestamp
// metadata.
func (r *tufRepo) publishVersion(t *testing.T, v int64, trustedRoot []byte, expires time.Time) {
	t.Helper()
	targets := metadata.Targets(expires)
	targets.Signed.Version = v
	tf, err := metadata.TargetFile().FromBytes(trustedRootTarget, trustedRoot, "sha256")
	if err != nil {
		t.Fatal(err)
	}
	targets.Signed.Targets[trustedRootTarget] = tf
	snapshot, timestamp := metadata.Snapshot(expires), metadata.Timestamp(expires)
	snapshot.Signed.Version, timestamp.Signed.Version = v, v
	snapshot.Signed.Meta["targets.json"].Version = v
	timestamp.Signed.Meta["snapshot.json"].Version = v
	r.sign(t, targets, metadata.TARGETS)
	r.sign(t, snapshot, metadata.SNAPSHOT)
	r.sign(t, timestamp, metadata.TIMESTAMP)
	sum := sha256.Sum256(trustedRoot)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files = map[string][]byte{
		"1.root.json":                      r.root,
		"timestamp.json":                   r.bytes(t, timestamp),
		fmt.Sprintf("%d.snapshot.json", v): r.bytes(t, snapshot),
		fmt.Sprintf("%d.targets.json", v):  r.bytes(t, targets),
		"targets/" + hex.EncodeToString(sum[:]) + "." + trustedRootTarget: trustedRoot,
	}
}

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// settle waits for a background fetch to end.
func (m *tufMaterial) settle() { m.lazy.Wait() }

// TestTUFStaleness: a trusted root fetched from a TUF mirror is served
// while refreshes fail for at most TUFMaxStaleness after the last
// successful one, or until the TUF metadata expires if that comes first;
// then keyless verification is inconclusive, saying why, until a refresh
// succeeds.
func TestTUFStaleness(t *testing.T) {
	t.Parallel()
	ss, err := fixture.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	trustedRoot, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Truncate(time.Second)
	type step struct {
		at   time.Duration // since t0
		down bool          // the mirror answers 503
		want verify.Outcome
		has  string
	}
	tests := []struct {
		name    string
		expires time.Duration // of the TUF metadata, after t0
		steps   []step
	}{
		{"maximum staleness", 30 * 24 * time.Hour, []step{
			{at: 0, want: verify.Verified},
			{at: 25 * time.Hour, down: true, want: verify.Verified}, // refresh due, fails: still served
			{at: TUFMaxStaleness - time.Minute, down: true, want: verify.Verified},
			{at: TUFMaxStaleness + time.Minute, down: true, want: verify.Inconclusive, has: "too old to trust"},
			{at: TUFMaxStaleness + 2*time.Minute, want: verify.Verified}, // the mirror is back
		}},
		{"TUF metadata expires first", 2 * 24 * time.Hour, []step{
			{at: 0, want: verify.Verified},
			{at: 25 * time.Hour, down: true, want: verify.Verified}, // refresh due at half the validity
			{at: 48*time.Hour + time.Minute, down: true, want: verify.Inconclusive, has: "too old to trust"},
			// Back, but still serving metadata that expired: the TUF
			// client refuses it.
			{at: 48*time.Hour + 2*time.Minute, want: verify.Inconclusive, has: "expired"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo := newTUFRepo(t, t0)
			repo.publish(t, trustedRoot, t0.Add(tc.expires))
			clk := &testClock{now: t0}
			m := newTUFMaterial(repo.srv.URL, repo.root, clk.Now)
			for i, s := range tc.steps {
				clk.set(t0.Add(s.at))
				repo.down.Store(s.down)
				tm, err := m.TrustedMaterial(context.Background())
				m.settle()
				fp, ferr := m.Fingerprint(context.Background())
				got := verify.Classify(err)
				if got != s.want || (err == nil) != (tm != nil) || !strings.Contains(errString(err), s.has) {
					t.Errorf("step %d (+%s): %s (%v), want %s containing %q", i, s.at, got, err, s.want, s.has)
				}
				if s.want == verify.Verified && (ferr != nil || fp != fingerprint(trustedRoot)) {
					t.Errorf("step %d: fingerprint %q, %v; want the trusted root's", i, fp, ferr)
				}
				if s.want != verify.Verified && ferr == nil {
					t.Errorf("step %d: fingerprint %q although the material is unusable", i, fp)
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestTUFRollback: once a version of the repository was trusted, an older
// one (validly signed, unexpired) is refused at refresh: the trusted root
// in use stays, and once it is too old the denial names the rollback.
func TestTUFRollback(t *testing.T) {
	t.Parallel()
	ss, err := fixture.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	trustedRoot, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Truncate(time.Second)
	repo := newTUFRepo(t, t0)
	repo.publishVersion(t, 2, trustedRoot, t0.Add(48*time.Hour))
	clk := &testClock{now: t0}
	m := newTUFMaterial(repo.srv.URL, repo.root, clk.Now)
	get := func(at time.Duration) error {
		clk.set(t0.Add(at))
		_, err := m.TrustedMaterial(context.Background())
		m.settle()
		return err
	}
	if err := get(0); err != nil {
		t.Fatal(err)
	}
	other := []byte(strings.Replace(string(trustedRoot), "{", "{ ", 1))
	repo.publishVersion(t, 1, other, t0.Add(30*24*time.Hour))
	if err := get(25 * time.Hour); err != nil { // refresh due: refused, version 2 served
		t.Fatalf("refresh: %v", err)
	}
	if fp, _ := m.Fingerprint(context.Background()); fp != fingerprint(trustedRoot) {
		t.Fatalf("fingerprint %s: the rolled-back trusted root is in use", fp)
	}
	err = get(48*time.Hour + time.Minute)
	if verify.Classify(err) != verify.Inconclusive || !strings.Contains(errString(err), "rolled back: it serves timestamp version 1 after version 2") {
		t.Fatalf("got %v, want inconclusive naming the rollback", err)
	}
}

package tufrepo

import (
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
)

// Repo is a TUF repository served over plain HTTP on loopback. TUF
// metadata is signed, so the transport adds no trust.
type Repo struct {
	URL  string       // the mirror's base URL
	Root []byte       // 1.root.json: the client's initial, pinned root
	Down atomic.Bool  // answer every request 503
	Hits atomic.Int64 // requests answered while up

	keys map[string]ed25519.PrivateKey

	mu    sync.Mutex
	files map[string][]byte
}

// Start serves a repository whose root expires a year after now; it
// serves nothing but its root until Publish. The server stops when the
// test ends.
func Start(t testing.TB, now time.Time) *Repo {
	t.Helper()
	r := &Repo{keys: map[string]ed25519.PrivateKey{}, files: map[string][]byte{}}
	root := metadata.Root(now.AddDate(1, 0, 0).Truncate(time.Second))
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
	r.Root = toBytes(t, root)
	r.files["1.root.json"] = r.Root
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.Down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		r.Hits.Add(1)
		r.mu.Lock()
		b, ok := r.files[strings.TrimPrefix(req.URL.Path, "/")]
		r.mu.Unlock()
		if !ok {
			http.NotFound(w, req)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Publish makes version v of the repository (targets, snapshot and
// timestamp all at v, expiring at expires) the one served, with content as
// its only target, name. tamper serves the target's bytes changed after
// the targets metadata recorded their hash.
func (r *Repo) Publish(t testing.TB, v int64, name string, content []byte, expires time.Time, tamper bool) {
	t.Helper()
	expires = expires.Truncate(time.Second)
	targets := metadata.Targets(expires)
	targets.Signed.Version = v
	tf, err := metadata.TargetFile().FromBytes(name, content, "sha256")
	if err != nil {
		t.Fatal(err)
	}
	targets.Signed.Targets[name] = tf
	snapshot, timestamp := metadata.Snapshot(expires), metadata.Timestamp(expires)
	snapshot.Signed.Version, timestamp.Signed.Version = v, v
	snapshot.Signed.Meta["targets.json"].Version = v
	timestamp.Signed.Meta["snapshot.json"].Version = v
	r.sign(t, targets, metadata.TARGETS)
	r.sign(t, snapshot, metadata.SNAPSHOT)
	r.sign(t, timestamp, metadata.TIMESTAMP)
	served := content
	if tamper {
		served = append([]byte{}, content...)
		served[0] ^= 1 // same length, another hash
	}
	sum := sha256.Sum256(content)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.files = map[string][]byte{
		"1.root.json":                                        r.Root,
		"timestamp.json":                                     toBytes(t, timestamp),
		fmt.Sprintf("%d.snapshot.json", v):                   toBytes(t, snapshot),
		fmt.Sprintf("%d.targets.json", v):                    toBytes(t, targets),
		"targets/" + hex.EncodeToString(sum[:]) + "." + name: served,
	}
}

// Expiry is the expiry of the timestamp metadata served now.
func (r *Repo) Expiry(t testing.TB) time.Time {
	t.Helper()
	r.mu.Lock()
	b := r.files["timestamp.json"]
	r.mu.Unlock()
	ts, err := metadata.Timestamp().FromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return ts.Signed.Expires
}

func (r *Repo) sign(t testing.TB, md interface {
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

func toBytes(t testing.TB, md interface{ ToBytes(bool) ([]byte, error) }) []byte {
	t.Helper()
	b, err := md.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

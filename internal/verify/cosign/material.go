package cosign

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	tufconfig "github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/signet-dev/signet/internal/ttl"
	"github.com/signet-dev/signet/internal/verify"
)

// Material supplies the Sigstore trusted material (Fulcio CAs, Rekor logs,
// CT logs, timestamping authorities) that keyless trust roots verify
// against.
type Material interface {
	TrustedMaterial(ctx context.Context) (root.TrustedMaterial, error)
}

// fingerprinted is Material that can change while a policy is in force (a
// file, a TUF repository): Fingerprint identifies what TrustedMaterial
// serves now (the SHA-256 of the trusted root JSON), and fails when it
// would fail.
type fingerprinted interface {
	Fingerprint(ctx context.Context) (string, error)
}

// StaticMaterial is trusted material known when the policy is compiled: a
// trusted_root.json given inline (the rule's hash covers it).
type StaticMaterial struct{ TM root.TrustedMaterial }

// TrustedMaterial implements Material.
func (m StaticMaterial) TrustedMaterial(context.Context) (root.TrustedMaterial, error) {
	return m.TM, nil
}

// ParseTrustedRoot parses a Sigstore trusted_root.json and checks it can
// verify keyless signatures: it must name at least one Fulcio CA.
func ParseTrustedRoot(b []byte) (*root.TrustedRoot, error) {
	tr, err := root.NewTrustedRootFromJSON(b)
	if err != nil {
		return nil, fmt.Errorf("parsing Sigstore trusted root: %w", err)
	}
	if len(tr.FulcioCertificateAuthorities()) == 0 {
		return nil, fmt.Errorf("Sigstore trusted root names no Fulcio certificate authority")
	}
	return tr, nil
}

func fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Trusted root files.
const (
	// TrustedRootFileCheck is how often a trustedRootFile in use is
	// read again to see whether it changed.
	TrustedRootFileCheck = 10 * time.Second
	// MaxTrustedRootFile bounds the size of a trustedRootFile (real ones
	// are a few KiB).
	MaxTrustedRootFile = 4 << 20
)

// fileMaterial is a trusted_root.json file (trustedRootFile), read again
// when used at least TrustedRootFileCheck after the last read, and parsed
// again when its content (by SHA-256) changed. A file that can no longer
// be read or parsed fails closed: keyless verifications are inconclusive,
// naming the file, until it is fixed. The old material is not kept: an
// edit is how an operator removes a CA or a log they no longer trust, and
// a half-written or broken edit must not leave that trust in force.
type fileMaterial struct {
	path string
	now  func() time.Time

	mu      sync.Mutex
	checked time.Time
	sum     string // of the content last read
	tm      root.TrustedMaterial
	err     error
}

// FileMaterial reads the trusted root at path (a validator's
// trustedRootFile) and keeps watching it. now is the clock (nil:
// time.Now). The error names the path: the policy does not load.
func FileMaterial(path string, now func() time.Time) (Material, error) {
	if now == nil {
		now = time.Now
	}
	m := &fileMaterial{path: path, now: now}
	b, err := m.read()
	if err != nil {
		return nil, err
	}
	tr, err := ParseTrustedRoot(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.tm, m.sum, m.checked = tr, fingerprint(b), now()
	return m, nil
}

func (m *fileMaterial) read() ([]byte, error) {
	f, err := os.Open(m.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxTrustedRootFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", m.path, err)
	}
	if len(b) > MaxTrustedRootFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", m.path, MaxTrustedRootFile)
	}
	return b, nil
}

// current returns the material in the file now, and its fingerprint.
func (m *fileMaterial) current() (root.TrustedMaterial, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now := m.now(); now.Sub(m.checked) >= TrustedRootFileCheck {
		m.checked = now
		b, err := m.read()
		switch {
		case err != nil:
			m.tm, m.sum, m.err = nil, "", err
		case fingerprint(b) != m.sum || m.tm == nil:
			tr, err := ParseTrustedRoot(b)
			m.sum = fingerprint(b)
			if err != nil {
				m.tm, m.err = nil, fmt.Errorf("%s: %w", m.path, err)
			} else {
				m.tm, m.err = tr, nil
			}
		}
	}
	if m.err != nil {
		return nil, "", &verify.InconclusiveError{Reason: "the Sigstore trusted root file (trustedRootFile) changed and can no longer be used; keyless verifications are inconclusive until it is fixed", Err: m.err}
	}
	return m.tm, m.sum, nil
}

// TrustedMaterial implements Material.
func (m *fileMaterial) TrustedMaterial(context.Context) (root.TrustedMaterial, error) {
	tm, _, err := m.current()
	return tm, err
}

// Fingerprint identifies the file's content in use.
func (m *fileMaterial) Fingerprint(context.Context) (string, error) {
	_, fp, err := m.current()
	return fp, err
}

// PublicGoodTUF is the public-good Sigstore instance's TUF repository.
const PublicGoodTUF = "https://tuf-repo-cdn.sigstore.dev"

// TUF timings. A failed fetch is retried no sooner than tufRetry, so that
// an unreachable repository costs admissions nothing but an immediate
// answer; a fetched root is refreshed after tufRefresh (sooner when the
// TUF metadata expires sooner: at half its remaining validity).
const (
	tufRetry   = 30 * time.Second
	tufRefresh = 24 * time.Hour
	tufTimeout = 20 * time.Second
)

// TUFMaxStaleness is how long a trusted root fetched from TUF is used
// after the last successful refresh while every refresh fails, unless the
// TUF metadata it came with expires sooner. Beyond it keyless
// verifications are inconclusive: a blocked mirror must not freeze
// revocation forever.
const TUFMaxStaleness = 7 * 24 * time.Hour

// tufMaterial fetches a trusted root from a TUF repository on first use,
// in the background, and keeps it in memory. Nothing is fetched before the
// first keyless verification, so a cluster without the network starts.
type tufMaterial struct {
	mirror string
	root   []byte
	now    func() time.Time
	// client is the HTTP client of the TUF fetcher.
	client *http.Client
	lazy   *ttl.Lazy[tufRoot]

	// What the last successful load trusted: the newest root (the next
	// load starts from it, as a TUF client's local root) and the version
	// of each top-level role. A repository serving an older version of any
	// of them afterwards is rolled back (or frozen on an old snapshot) and
	// is refused, as the TUF client workflow refuses older metadata than
	// its local copy: the updater keeps no local copy here (signet writes
	// no files), so signet keeps it in memory.
	seenMu   sync.Mutex
	seenRoot []byte
	seen     map[string]int64
}

// tufRoot is a trusted root fetched from TUF.
type tufRoot struct {
	tm      root.TrustedMaterial
	fp      string    // of the trusted root JSON
	expires time.Time // the earliest expiry of the TUF metadata that vouched for it
}

// maxTUFRepositories bounds the TUF repositories whose material is kept
// across policy reloads (least recently named first out): a policy names a
// few; one evicted while a policy still names it is fetched again by the
// next policy that does.
const maxTUFRepositories = 64

var (
	tufMu    sync.Mutex
	tufCache = ttl.NewCache[string, *tufMaterial](maxTUFRepositories, 0, nil)
)

// TUFMaterial returns the material of the TUF repository at mirror
// (PublicGoodTUF when empty) whose initial root is rootJSON (the
// public-good root embedded in sigstore-go when empty). Policies naming the
// same repository share one copy across reloads.
func TUFMaterial(mirror string, rootJSON []byte) Material {
	if mirror == "" {
		mirror = PublicGoodTUF
	}
	if len(rootJSON) == 0 {
		rootJSON = tuf.DefaultRoot()
	}
	sum := sha256.Sum256(rootJSON)
	key := mirror + "\x00" + string(sum[:])
	tufMu.Lock()
	defer tufMu.Unlock()
	if m, ok := tufCache.Get(key); ok {
		return m
	}
	m := newTUFMaterial(mirror, rootJSON, time.Now)
	tufCache.Add(key, m)
	return m
}

func newTUFMaterial(mirror string, rootJSON []byte, now func() time.Time) *tufMaterial {
	m := &tufMaterial{mirror: mirror, root: rootJSON, now: now, client: &http.Client{
		Timeout: tufTimeout,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 5 * time.Second,
		},
	}}
	// A fetched root is refreshed after tufRefresh, or at half the
	// remaining validity of its TUF metadata if sooner; while refreshes
	// fail it is served up to TUFMaxStaleness after the last successful
	// one, never past the metadata's expiry; a failed fetch is retried no
	// sooner than tufRetry.
	m.lazy = ttl.NewLazy(func(context.Context) (tufRoot, error) {
		tm, fp, expires, err := m.load()
		if err != nil {
			return tufRoot{}, &verify.InconclusiveError{Reason: "fetching the Sigstore trusted root from TUF repository " + m.mirror, Err: err}
		}
		return tufRoot{tm: tm, fp: fp, expires: expires}, nil
	}, ttl.LazyOptions[tufRoot]{
		Refresh: tufRefresh, MaxAge: TUFMaxStaleness, RetryAfter: tufRetry,
		Expiry: func(r tufRoot) time.Time { return r.expires },
		Now:    now,
	})
	return m
}

// TrustedMaterial implements Material. It waits for a fetch no longer than
// ctx allows; the fetch goes on in the background and serves later calls.
func (m *tufMaterial) TrustedMaterial(ctx context.Context) (root.TrustedMaterial, error) {
	tm, _, err := m.current(ctx)
	return tm, err
}

// Fingerprint identifies the trusted root in use.
func (m *tufMaterial) Fingerprint(ctx context.Context) (string, error) {
	_, fp, err := m.current(ctx)
	return fp, err
}

func (m *tufMaterial) current(ctx context.Context) (root.TrustedMaterial, string, error) {
	r, err := m.lazy.Get(ctx)
	var pending *ttl.PendingError
	var stale *ttl.StaleError
	switch {
	case errors.As(err, &pending):
		return nil, "", &verify.InconclusiveError{Reason: "Sigstore trusted root from TUF repository " + m.mirror + " not fetched yet", Err: pending.Err}
	case errors.As(err, &stale):
		return nil, "", &verify.InconclusiveError{
			Reason: fmt.Sprintf("the Sigstore trusted root from TUF repository %s is too old to trust: last refreshed %s, usable until %s (at most %s after a refresh, and never past the TUF metadata's expiry); keyless verifications are inconclusive until a refresh succeeds",
				m.mirror, stale.Resolved.UTC().Format(time.RFC3339), stale.StaleAt.UTC().Format(time.RFC3339), TUFMaxStaleness),
			Err: stale.Err,
		}
	case err != nil:
		return nil, "", err
	}
	return r.tm, r.fp, nil
}

// trustedRootTarget is the TUF target holding the Sigstore trusted root.
const trustedRootTarget = "trusted_root.json"

// load runs the TUF client workflow (go-tuf's updater, as sigstore-go's
// client does, without a local cache) against the mirror and returns the
// trusted root, its fingerprint and the earliest expiry of the top-level
// metadata that vouched for it.
func (m *tufMaterial) load() (root.TrustedMaterial, string, time.Time, error) {
	f := fetcher.NewDefaultFetcher()
	f.SetHTTPUserAgent("signet")
	f.SetHTTPClient(m.client)
	f.SetRetry(time.Second, 1)
	m.seenMu.Lock()
	defer m.seenMu.Unlock()
	start := m.root
	if m.seenRoot != nil {
		start = m.seenRoot
	}
	cfg, err := tufconfig.New(m.mirror, start)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	cfg.Fetcher, cfg.DisableLocalCache = f, true
	up, err := updater.New(cfg)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	up.UnsafeSetRefTime(m.now()) // metadata expiry by signet's clock
	if err := up.Refresh(); err != nil {
		return nil, "", time.Time{}, fmt.Errorf("TUF refresh: %w", err)
	}
	ti, err := up.GetTargetInfo(trustedRootTarget)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	_, b, err := up.DownloadTarget(ti, trustedRootTarget, "")
	if err != nil {
		return nil, "", time.Time{}, err
	}
	tr, err := ParseTrustedRoot(b)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	md := up.GetTrustedMetadataSet()
	versions := map[string]int64{
		metadata.ROOT:      md.Root.Signed.Version,
		metadata.TIMESTAMP: md.Timestamp.Signed.Version,
		metadata.SNAPSHOT:  md.Snapshot.Signed.Version,
		metadata.TARGETS:   md.Targets[metadata.TARGETS].Signed.Version,
	}
	for _, role := range []string{metadata.ROOT, metadata.TIMESTAMP, metadata.SNAPSHOT, metadata.TARGETS} {
		if v, seen := versions[role], m.seen[role]; v < seen {
			return nil, "", time.Time{}, fmt.Errorf("TUF repository rolled back: it serves %s version %d after version %d was trusted", role, v, seen)
		}
	}
	rootJSON, err := md.Root.ToBytes(false)
	if err != nil {
		return nil, "", time.Time{}, fmt.Errorf("encoding the trusted TUF root: %w", err)
	}
	m.seenRoot, m.seen = rootJSON, versions
	expires := md.Root.Signed.Expires
	for _, t := range []time.Time{md.Timestamp.Signed.Expires, md.Snapshot.Signed.Expires, md.Targets[metadata.TARGETS].Signed.Expires} {
		if t.Before(expires) {
			expires = t
		}
	}
	return tr, fingerprint(b), expires, nil
}

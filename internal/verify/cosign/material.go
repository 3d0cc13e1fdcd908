package cosign

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/tuf"
	"github.com/theupdateframework/go-tuf/v2/metadata/fetcher"

	"github.com/signet-dev/signet/internal/verify"
)

// Material supplies the Sigstore trusted material (Fulcio CAs, Rekor logs,
// CT logs, timestamping authorities) that keyless trust roots verify
// against.
type Material interface {
	TrustedMaterial(ctx context.Context) (root.TrustedMaterial, error)
}

// StaticMaterial is trusted material known when the policy is compiled: a
// trusted_root.json given inline or as a file.
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

// PublicGoodTUF is the public-good Sigstore instance's TUF repository.
const PublicGoodTUF = "https://tuf-repo-cdn.sigstore.dev"

// TUF timings. A failed fetch is retried no sooner than tufRetry, so that
// an unreachable repository costs admissions nothing but an immediate
// inconclusive answer; a fetched root is refreshed after tufRefresh.
const (
	tufRetry   = 30 * time.Second
	tufRefresh = 24 * time.Hour
	tufTimeout = 20 * time.Second
)

// tufMaterial fetches a trusted root from a TUF repository on first use,
// in the background, and keeps it in memory. Nothing is fetched before the
// first keyless verification, so a cluster without the network starts.
type tufMaterial struct {
	mirror string
	root   []byte

	mu       sync.Mutex
	tm       root.TrustedMaterial
	fetched  time.Time
	err      error
	failed   time.Time
	inflight chan struct{} // closed when the running fetch ends
}

var (
	tufMu    sync.Mutex
	tufCache = map[string]*tufMaterial{}
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
	if m := tufCache[key]; m != nil {
		return m
	}
	m := &tufMaterial{mirror: mirror, root: rootJSON}
	tufCache[key] = m
	return m
}

// TrustedMaterial implements Material. It waits for a fetch no longer than
// ctx allows; the fetch goes on in the background and serves later calls.
func (m *tufMaterial) TrustedMaterial(ctx context.Context) (root.TrustedMaterial, error) {
	m.mu.Lock()
	now := time.Now()
	if m.tm != nil && now.Sub(m.fetched) < tufRefresh {
		tm := m.tm
		m.mu.Unlock()
		return tm, nil
	}
	if m.tm == nil && m.err != nil && now.Sub(m.failed) < tufRetry {
		err := m.err
		m.mu.Unlock()
		return nil, err
	}
	if m.inflight == nil {
		m.inflight = make(chan struct{})
		go m.fetch(m.inflight)
	}
	done, stale := m.inflight, m.tm
	m.mu.Unlock()
	if stale != nil {
		// Refreshing: keep serving the root we have.
		return stale, nil
	}
	select {
	case <-done:
	case <-ctx.Done():
		return nil, &verify.InconclusiveError{Reason: "Sigstore trusted root from TUF repository " + m.mirror + " not fetched yet", Err: ctx.Err()}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tm != nil {
		return m.tm, nil
	}
	return nil, m.err
}

func (m *tufMaterial) fetch(done chan struct{}) {
	tm, err := m.load()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.err, m.failed = &verify.InconclusiveError{Reason: "fetching the Sigstore trusted root from TUF repository " + m.mirror, Err: err}, time.Now()
	} else {
		m.tm, m.fetched, m.err = tm, time.Now(), nil
	}
	m.inflight = nil
	close(done)
}

func (m *tufMaterial) load() (root.TrustedMaterial, error) {
	f := fetcher.NewDefaultFetcher()
	f.SetHTTPUserAgent("signet")
	f.SetHTTPClient(&http.Client{
		Timeout: tufTimeout,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 5 * time.Second,
		},
	})
	f.SetRetry(time.Second, 1)
	opts := tuf.DefaultOptions().
		WithRepositoryBaseURL(m.mirror).
		WithRoot(m.root).
		WithDisableLocalCache().
		WithFetcher(f)
	c, err := tuf.New(opts)
	if err != nil {
		return nil, err
	}
	return root.GetTrustedRoot(c)
}

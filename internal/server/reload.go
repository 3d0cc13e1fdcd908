package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/signet-dev/signet/internal/alert"
	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/policy"
)

// PolicyWatcher serves the current policy engine and replaces it when the
// policy file changes. It polls the file's content, which covers every way
// a file changes: in-place writes, replacement by rename, and the symlink
// swap of a Kubernetes ConfigMap volume. A policy that does not load is
// rejected with a log line and a metric; the previous engine keeps serving.
type PolicyWatcher struct {
	path    string
	compile func(*policy.Document, string) (*policy.Engine, error)
	log     *slog.Logger
	metrics *metrics.Metrics
	alerts  *alert.Alerter // nil: none

	current atomic.Pointer[policy.Engine]
	mu      sync.Mutex
	hash    string
	gen     int64
}

// NewPolicyWatcher loads the policy at path. A policy that does not load is
// an error: signet does not start without a valid policy. compile is given
// the document and its content's hash.
func NewPolicyWatcher(path string, compile func(*policy.Document, string) (*policy.Engine, error), log *slog.Logger, m *metrics.Metrics) (*PolicyWatcher, error) {
	w := &PolicyWatcher{path: path, compile: compile, log: log, metrics: m}
	if _, err := w.reload(); err != nil {
		return nil, err
	}
	return w, nil
}

// Engine returns the engine in force.
func (w *PolicyWatcher) Engine() *policy.Engine { return w.current.Load() }

// Hash returns the content hash of the policy in force.
func (w *PolicyWatcher) Hash() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hash
}

// reload reads the file and, when its content changed, compiles and swaps
// it in. It reports whether a new policy was swapped in.
func (w *PolicyWatcher) reload() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	data, err := os.ReadFile(w.path)
	if err != nil {
		return false, fmt.Errorf("reading policy: %w", err)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:8])
	if hash == w.hash {
		return false, nil
	}
	doc, err := policy.Parse(data)
	if err == nil {
		var eng *policy.Engine
		if eng, err = w.compile(doc, hash); err == nil {
			w.gen++
			w.current.Store(eng.Stamped(w.gen, hash))
			w.hash = hash
			w.metrics.Policy(eng.Name(), hash)
			w.metrics.PolicyGeneration(w.gen)
			return true, nil
		}
	}
	if ie, ok := err.(*policy.InvalidError); ok {
		ie.Source = w.path
	}
	return false, err
}

// Run polls every interval until ctx is done.
func (w *PolicyWatcher) Run(ctx context.Context, interval time.Duration) {
	poll(ctx, interval, w.reload, func(err error) {
		w.log.Error("policy rejected; the previous policy stays in force", "path", w.path, "error", err.Error())
		w.metrics.Reload(false)
		w.alerts.PolicyReloadFailed(w.path, err)
	}, func() {
		w.log.Info("policy reloaded", "path", w.path, "policy", w.Engine().Name(), "hash", w.Hash())
		w.metrics.Reload(true)
	})
}

// poll calls reload every interval until ctx is done, reporting each new
// error once (not on every poll) and each successful swap. Any poll without
// an error ends an error, swap or not: a file put back as it was, then
// broken the same way again, is a new error, logged and counted again.
func poll(ctx context.Context, interval time.Duration, reload func() (bool, error), failed func(error), swapped func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ok, err := reload()
		switch {
		case err != nil:
			if err.Error() != lastErr {
				failed(err)
				lastErr = err.Error()
			}
		default:
			lastErr = ""
			if ok {
				swapped()
			}
		}
	}
}

// CertReloader serves the TLS certificate in a key pair of files and picks
// up new files (rotation by cert-manager or a Secret update) without a
// restart. A pair that does not load keeps the previous certificate.
type CertReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	current atomic.Pointer[tls.Certificate]
	mu      sync.Mutex
	raw     []byte
}

// NewCertReloader loads the key pair; failing to is an error.
func NewCertReloader(certFile, keyFile string, log *slog.Logger) (*CertReloader, error) {
	c := &CertReloader{certFile: certFile, keyFile: keyFile, log: log}
	if _, err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *CertReloader) reload() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	certPEM, err := os.ReadFile(c.certFile)
	if err != nil {
		return false, fmt.Errorf("reading TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(c.keyFile)
	if err != nil {
		return false, fmt.Errorf("reading TLS key: %w", err)
	}
	raw := append(append([]byte{}, certPEM...), keyPEM...)
	if bytes.Equal(raw, c.raw) {
		return false, nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("loading TLS key pair %s, %s: %w", c.certFile, c.keyFile, err)
	}
	c.current.Store(&cert)
	c.raw = raw
	return true, nil
}

// GetCertificate is a tls.Config callback.
func (c *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.current.Load(), nil
}

// Run polls every interval until ctx is done.
func (c *CertReloader) Run(ctx context.Context, interval time.Duration) {
	poll(ctx, interval, c.reload, func(err error) {
		c.log.Error("TLS certificate not reloaded; the previous one stays in use", "error", err.Error())
	}, func() {
		c.log.Info("TLS certificate reloaded", "cert", c.certFile)
	})
}

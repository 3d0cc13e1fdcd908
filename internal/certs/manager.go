package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// ErrConflict is what a Store returns when a conditional write lost: the
// Secret was created or changed since it was loaded.
var ErrConflict = errors.New("the Secret changed since it was read")

// Store keeps the Secret and publishes the CA bundle.
type Store interface {
	// Load returns the Secret's data and resourceVersion; nil data and
	// "" when there is no Secret.
	Load(ctx context.Context) (data map[string][]byte, version string, err error)
	// Save creates the Secret (version "") or updates it if its
	// resourceVersion is still version; else ErrConflict.
	Save(ctx context.Context, data map[string][]byte, version string) error
	// Publish sets the webhook configurations' caBundle.
	Publish(ctx context.Context, caBundle []byte) error
	// Published returns the CA certificates the webhook configurations'
	// caBundle holds now (PEM, each distinct bundle once).
	Published(ctx context.Context) ([]byte, error)
}

// DefaultSyncInterval is how often a Manager reads the Secret again: a
// certificate written by another replica is served within it.
const DefaultSyncInterval = time.Minute

// maxAttempts bounds the retries of one Sync after conflicting writes.
const maxAttempts = 3

// Manager keeps the Secret's certificates current and serves them.
type Manager struct {
	store    Store
	opts     Options
	interval time.Duration
	log      *slog.Logger

	current atomic.Pointer[tls.Certificate]
	raw     atomic.Pointer[string]
}

// NewManager returns a Manager that syncs every interval
// (DefaultSyncInterval when not positive); call Sync before serving.
func NewManager(store Store, opts Options, interval time.Duration, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if interval <= 0 {
		interval = DefaultSyncInterval
	}
	return &Manager{store: store, opts: opts, interval: interval, log: log}
}

// Sync loads the Secret, writes what Reconcile says it should hold (a lost
// conditional write is retried on what the winner wrote), serves its
// certificate and publishes its CA bundle.
func (m *Manager) Sync(ctx context.Context) error {
	var data map[string][]byte
	for attempt := 1; ; attempt++ {
		cur, version, err := m.store.Load(ctx)
		if err != nil {
			return fmt.Errorf("reading the TLS Secret: %w", err)
		}
		opts := m.opts
		if st, perr := parse(cur); st == nil || perr != nil {
			// A first CA of signet's: keep what another mode published.
			if opts.Published, err = m.store.Published(ctx); err != nil {
				return fmt.Errorf("reading the published CA bundle: %w", err)
			}
		}
		next, reason, err := Reconcile(cur, opts)
		if err != nil {
			return err
		}
		if reason == "" {
			data = cur
			break
		}
		err = m.store.Save(ctx, next, version)
		if err == nil {
			m.log.Info("TLS Secret written", "reason", reason)
			data = next
			break
		}
		if !errors.Is(err, ErrConflict) || attempt == maxAttempts {
			return fmt.Errorf("writing the TLS Secret: %w", err)
		}
	}
	if err := m.load(data); err != nil {
		return err
	}
	if err := m.store.Publish(ctx, data[CABundleKey]); err != nil {
		return fmt.Errorf("publishing the CA bundle: %w", err)
	}
	return nil
}

// load serves the key pair in data, when it is new.
func (m *Manager) load(data map[string][]byte) error {
	raw := string(data[CertKey]) + string(data[KeyKey])
	if p := m.raw.Load(); p != nil && *p == raw {
		return nil
	}
	cert, err := tls.X509KeyPair(data[CertKey], data[KeyKey])
	if err != nil {
		return fmt.Errorf("loading the TLS Secret's key pair: %w", err)
	}
	m.current.Store(&cert)
	m.raw.Store(&raw)
	m.log.Info("TLS certificate loaded", "notAfter", cert.Leaf.NotAfter)
	return nil
}

// Serving says whether a certificate is loaded.
func (m *Manager) Serving() bool { return m.current.Load() != nil }

// GetCertificate is a tls.Config callback.
func (m *Manager) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := m.current.Load()
	if c == nil {
		return nil, errors.New("no TLS certificate yet")
	}
	return c, nil
}

// Run syncs every interval until ctx is done; a failed sync keeps the
// certificate in use and is logged.
func (m *Manager) Run(ctx context.Context) {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.Sync(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("TLS Secret not synced; the certificate in use stays", "error", err.Error())
		}
	}
}

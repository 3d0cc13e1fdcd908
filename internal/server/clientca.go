package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// ClientCAReloader makes the webhook listener require a client
// certificate chaining to the CA bundle in a file (--client-ca): the
// certificate the API server presents from its AdmissionConfiguration
// kubeconfig. A client without one, or with one from another CA, fails the
// TLS handshake, before any HTTP is read. The bundle is reloaded like the
// serving certificate (a rotated CA is accepted without a restart); a file
// that does not load keeps the previous bundle.
type ClientCAReloader struct {
	file string
	base *tls.Config
	log  *slog.Logger

	current atomic.Pointer[tls.Config]
	mu      sync.Mutex
	raw     []byte
}

// NewClientCAReloader loads the CA bundle; failing to is an error. base is
// the listener's configuration, which every handshake's configuration
// copies.
func NewClientCAReloader(file string, base *tls.Config, log *slog.Logger) (*ClientCAReloader, error) {
	c := &ClientCAReloader{file: file, base: base, log: log}
	if _, err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *ClientCAReloader) reload() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	raw, err := os.ReadFile(c.file)
	if err != nil {
		return false, fmt.Errorf("reading client CA bundle: %w", err)
	}
	if bytes.Equal(raw, c.raw) {
		return false, nil
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return false, fmt.Errorf("client CA bundle %s: no PEM certificate in it", c.file)
	}
	cfg := c.base.Clone()
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = pool
	c.current.Store(cfg)
	c.raw = raw
	return true, nil
}

// GetConfigForClient is a tls.Config callback: the listener's
// configuration with the CA bundle in force.
func (c *ClientCAReloader) GetConfigForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	return c.current.Load(), nil
}

// Run polls every interval until ctx is done.
func (c *ClientCAReloader) Run(ctx context.Context, interval time.Duration) {
	poll(ctx, interval, c.reload, func(err error) {
		c.log.Error("client CA bundle not reloaded; the previous one stays in use", "error", err.Error())
	}, func() {
		c.log.Info("client CA bundle reloaded", "file", c.file)
	})
}

package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ClientCAReloader authenticates the clients of the webhook listener by
// certificate, for two audiences:
//
//   - the webhook paths (--client-ca): the certificate the API server
//     presents from its AdmissionConfiguration kubeconfig;
//   - /externaldata (--externaldata-client-ca): the certificate Gatekeeper
//     presents to its external-data providers.
//
// With the first alone, the handshake requires a certificate chaining to
// its bundle: a client without one, or with one from another CA, fails
// before any HTTP is read. With the second, the handshake asks for a
// certificate and verifies any given against both bundles
// (tls.VerifyClientCertIfGiven), and Authorize checks, per request, that
// the verified chain ends in the bundle of the path's audience: a
// Gatekeeper certificate never reaches /validate, an API server's never
// /externaldata. Bundles are reloaded like the serving certificate (a
// rotated CA is accepted without a restart); a file that does not load
// keeps the previous bundles.
type ClientCAReloader struct {
	webhookFile, externalFile string
	base                      *tls.Config
	log                       *slog.Logger

	current           atomic.Pointer[tls.Config]
	webhook, external atomic.Pointer[[]*x509.Certificate]
	mu                sync.Mutex
	raw               [2][]byte
}

// NewClientCAReloader loads the CA bundles (either file may be "", not
// both); failing to is an error. base is the listener's configuration,
// which every handshake's configuration copies.
func NewClientCAReloader(webhookFile, externalDataFile string, base *tls.Config, log *slog.Logger) (*ClientCAReloader, error) {
	c := &ClientCAReloader{webhookFile: webhookFile, externalFile: externalDataFile, base: base, log: log}
	if _, err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// readBundle reads the certificates of a PEM bundle.
func readBundle(file string) ([]byte, []*x509.Certificate, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, fmt.Errorf("reading client CA bundle: %w", err)
	}
	var certs []*x509.Certificate
	for rest := raw; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("client CA bundle %s: parsing a certificate: %w", file, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, nil, fmt.Errorf("client CA bundle %s: no PEM certificate in it", file)
	}
	return raw, certs, nil
}

func (c *ClientCAReloader) reload() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var (
		raws  [2][]byte
		certs [2][]*x509.Certificate
	)
	for i, f := range []string{c.webhookFile, c.externalFile} {
		if f == "" {
			continue
		}
		raw, cs, err := readBundle(f)
		if err != nil {
			return false, err
		}
		raws[i], certs[i] = raw, cs
	}
	if bytes.Equal(raws[0], c.raw[0]) && bytes.Equal(raws[1], c.raw[1]) && c.current.Load() != nil {
		return false, nil
	}
	pool := x509.NewCertPool()
	for _, cs := range certs {
		for _, cert := range cs {
			pool.AddCert(cert)
		}
	}
	cfg := c.base.Clone()
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	if c.externalFile != "" {
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	cfg.ClientCAs = pool
	c.webhook.Store(&certs[0])
	c.external.Store(&certs[1])
	c.current.Store(cfg)
	c.raw = raws
	return true, nil
}

// GetConfigForClient is a tls.Config callback: the listener's
// configuration with the CA bundles in force.
func (c *ClientCAReloader) GetConfigForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	return c.current.Load(), nil
}

// Authorize wraps the listener's handler: a request to externalPath needs
// a certificate verified against the external-data bundle, any other one
// against the webhook bundle (when --client-ca is set); otherwise 403.
func (c *ClientCAReloader) Authorize(externalPath string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bundle, flag := c.webhook.Load(), "--client-ca"
		if r.URL.Path == externalPath {
			bundle, flag = c.external.Load(), "--externaldata-client-ca"
		}
		if len(*bundle) > 0 && !anchoredIn(r.TLS, *bundle) {
			http.Error(w, "a client certificate from the CA of "+flag+" is required on this path", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// anchoredIn says whether a chain the handshake verified ends in one of
// cas.
func anchoredIn(cs *tls.ConnectionState, cas []*x509.Certificate) bool {
	if cs == nil {
		return false
	}
	for _, chain := range cs.VerifiedChains {
		if len(chain) == 0 {
			continue
		}
		anchor := chain[len(chain)-1]
		if slices.ContainsFunc(cas, anchor.Equal) {
			return true
		}
	}
	return false
}

// Run polls every interval until ctx is done.
func (c *ClientCAReloader) Run(ctx context.Context, interval time.Duration) {
	poll(ctx, interval, c.reload, func(err error) {
		c.log.Error("client CA bundle not reloaded; the previous one stays in use", "error", err.Error())
	}, func() {
		c.log.Info("client CA bundles reloaded", "clientCA", c.webhookFile, "externalDataClientCA", c.externalFile)
	})
}

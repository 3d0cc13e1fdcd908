package notaryv1

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
)

// Size limits of trust data files. A role whose size the snapshot or
// timestamp records is read to exactly that size.
const (
	// maxRootSize bounds root.json, whose size nothing signed records
	// before it is read (Docker Hub's are about 2.5 KB).
	maxRootSize = 1 << 20
	// maxRoleSize bounds every other role.
	maxRoleSize = 16 << 20
	// maxTransports bounds the authenticated transports kept, one per GUN.
	maxTransports = 256
)

// Errors of get.
var (
	errNotFound = errors.New("not found")
	errTooLarge = errors.New("file too large")
)

// server reads trust data from one Notary server.
type server struct {
	host     string // host[:port]
	reg      name.Registry
	keychain authn.Keychain
	base     http.RoundTripper

	mu         sync.Mutex
	transports map[string]http.RoundTripper // per GUN: token and connections reused
}

// CheckHost checks a Notary server URL: https://host[:port], nothing else.
func CheckHost(raw string) error {
	_, err := parseHost(raw)
	return err
}

// CheckCA checks that pem holds at least one PEM certificate.
func CheckCA(pem []byte) error {
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return errors.New("holds no PEM certificate")
	}
	return nil
}

func parseHost(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parsing Notary server URL %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "https":
		return "", fmt.Errorf("Notary server URL %q must start with https:// (trust data is only read over TLS)", raw)
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("Notary server URL %q has no host", raw)
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("Notary server URL %q must be https://host[:port] only (no credentials, path, query or fragment)", raw)
	}
	return u.Host, nil
}

// newServer returns a server for host (https://host[:port]) trusting the
// system roots plus caPEM.
func newServer(host string, caPEM []byte, keychain authn.Keychain, base http.RoundTripper) (*server, error) {
	h, err := parseHost(host)
	if err != nil {
		return nil, err
	}
	reg, err := name.NewRegistry(h, name.StrictValidation)
	if err != nil {
		return nil, fmt.Errorf("Notary server %q: %w", host, err)
	}
	if base == nil {
		t := registry.DefaultTransport()
		if len(caPEM) > 0 {
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(caPEM) {
				return nil, errors.New("Notary server CA (cert) holds no PEM certificate")
			}
			t.TLSClientConfig.RootCAs = pool
		}
		base = t
	}
	if keychain == nil {
		keychain = authn.DefaultKeychain
	}
	return &server{host: h, reg: reg, keychain: keychain, base: httpsOnly{base}, transports: map[string]http.RoundTripper{}}, nil
}

// httpsOnly refuses plain-HTTP requests. go-containerregistry falls back to
// HTTP for loopback and private hosts; trust data must never travel in the
// clear, whatever the host.
type httpsOnly struct{ inner http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		return nil, fmt.Errorf("refusing %s: trust data is only read over HTTPS", r.URL.Redacted())
	}
	return h.inner.RoundTrip(r)
}

// transport returns the authenticated transport for gun: the registry
// ping / challenge / token handshake, with scope repository:GUN:pull.
func (s *server) transport(ctx context.Context, gun string) (http.RoundTripper, error) {
	s.mu.Lock()
	t, ok := s.transports[gun]
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	auth, err := authn.Resolve(ctx, s.keychain, s.reg)
	if err != nil {
		return nil, fmt.Errorf("reading credentials for Notary server %s: %w", s.host, err)
	}
	scope := "repository:" + gun + ":" + transport.PullScope
	t, err = transport.NewWithContext(ctx, s.reg, auth, s.base, []string{scope})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.transports) >= maxTransports {
		clear(s.transports)
	}
	s.transports[gun] = t
	s.mu.Unlock()
	return t, nil
}

// get reads one role of gun, refusing more than max bytes.
func (s *server) get(ctx context.Context, gun, role string, max int64) ([]byte, error) {
	t, err := s.transport(ctx, gun)
	if err != nil {
		return nil, err
	}
	u := fmt.Sprintf("https://%s/v2/%s/_trust/tuf/%s.json", s.host, gun, role)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := t.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096)) //nolint:errcheck // draining for reuse
		if resp.StatusCode == http.StatusNotFound {
			return nil, errNotFound
		}
		return nil, &transport.Error{StatusCode: resp.StatusCode, Request: req}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s.json: %w (more than %d bytes)", role, errTooLarge, max)
	}
	return b, nil
}

// classify turns an error reading trust data into an outcome. doing says
// what was being read. A missing file is a verdict (failed); everything
// else — network errors, timeouts, 401/403, 429, 5xx — is inconclusive.
func (s *server) classify(ctx context.Context, err error, gun, doing string) error {
	where := fmt.Sprintf("%s for %s from Notary server %s", doing, gun, s.host)
	if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) {
		return &verify.InconclusiveError{Reason: where + ": the Notary server did not answer before the deadline", Err: err}
	}
	if errors.Is(err, errNotFound) {
		return &verify.FailedError{Reason: where + ": not found (the repository has no signed trust data on this Notary server; sign it with `docker trust sign` or `notary publish`)", Err: err}
	}
	switch code := registry.StatusCode(err); {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return &verify.InconclusiveError{Reason: fmt.Sprintf("%s: the Notary server refused access (HTTP %d); check the credentials signet has for %s", where, code, s.host), Err: err}
	case code == http.StatusTooManyRequests:
		return &verify.InconclusiveError{Reason: where + ": the Notary server is rate limiting (HTTP 429)", Err: err}
	case code >= 500:
		return &verify.InconclusiveError{Reason: fmt.Sprintf("%s: Notary server error (HTTP %d)", where, code), Err: err}
	case code != 0:
		return &verify.InconclusiveError{Reason: fmt.Sprintf("%s: unexpected answer from the Notary server (HTTP %d)", where, code), Err: err}
	}
	if errors.Is(err, errTooLarge) {
		return &verify.FailedError{Reason: where + ": trust data too large", Err: err}
	}
	return &verify.InconclusiveError{Reason: where + ": Notary server unreachable", Err: err}
}

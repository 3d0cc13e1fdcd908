package registry

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/ttl"
	"github.com/signet-dev/signet/internal/verify"
)

// Client talks to registries. The zero value is not usable; call New.
// A Client is safe for concurrent use and reuses connections and tokens.
type Client struct {
	keychain  authn.Keychain
	metrics   *metrics.Metrics
	transport http.RoundTripper
	userAgent string
	caBundle  []byte
	insecure  *Insecure
	// pullers cache authenticated transports per repository (bounded), so
	// that requests for a repository after the first reuse its connection
	// and its bearer token.
	pullers pullers
	// pings remembers /v2/ ping answers across repositories and pullers
	// (bounded, ping.go).
	pings *ttl.Cache[string, pingAnswer]
}

// Option configures a Client.
type Option func(*Client)

// WithKeychain sets where credentials come from. Default: the Docker config
// file ($DOCKER_CONFIG/config.json), anonymous when it has no entry.
func WithKeychain(k authn.Keychain) Option { return func(c *Client) { c.keychain = k } }

// WithTransport sets the HTTP transport. Default: a transport with dial, TLS
// handshake and response-header timeouts, TLS 1.2 or later.
func WithTransport(t http.RoundTripper) Option { return func(c *Client) { c.transport = t } }

// WithCABundle adds PEM CA certificates to the system roots the default
// transport trusts, for registries with a private CA. Default: system roots
// only. It has no effect with WithTransport.
func WithCABundle(pem []byte) Option { return func(c *Client) { c.caBundle = pem } }

// WithMetrics counts the client's registry requests by host and status.
func WithMetrics(m *metrics.Metrics) Option { return func(c *Client) { c.metrics = m } }

// WithInsecureRegistries lets the client reach these registries (host or
// host:port, exactly as images name them) over plain HTTP, whatever the
// request's context says (ContextWithInsecure adds more per request).
// Default: none, HTTPS only. Credentials are never sent over plain HTTP.
func WithInsecureRegistries(hosts ...string) Option {
	return func(c *Client) { c.insecure = NewInsecure(hosts...) }
}

// WithUserAgent sets the User-Agent prefix. Default: "signet".
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a Client. It fails only when WithCABundle holds no
// certificate.
func New(opts ...Option) (*Client, error) {
	c := &Client{keychain: authn.DefaultKeychain, userAgent: "signet"}
	for _, o := range opts {
		o(c)
	}
	if c.transport == nil {
		t := DefaultTransport()
		if len(c.caBundle) > 0 {
			pool, err := x509.SystemCertPool()
			if err != nil {
				pool = x509.NewCertPool()
			}
			if !pool.AppendCertsFromPEM(c.caBundle) {
				return nil, errors.New("registry CA bundle holds no PEM certificate")
			}
			t.TLSClientConfig.RootCAs = pool
		}
		c.transport = t
	}
	c.transport = limited{inner: newEconomy(c.transport, c.metrics), insecure: c.insecure}
	c.pullers.lru, _ = lru.New[string, *pullerEntry](MaxPullers)
	c.pings = ttl.NewCache[string, pingAnswer](MaxPingAnswers, PingTTL, nil)
	return c, nil
}

func (c *Client) newPuller(kc authn.Keychain, t http.RoundTripper) *remote.Puller {
	p, err := remote.NewPuller(
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(t),
		remote.WithUserAgent(c.userAgent),
		// Retries are the economy transport's, which respects deadlines
		// and Retry-After; go-containerregistry's own are turned off.
		remote.WithRetryPredicate(func(error) bool { return false }),
		remote.WithRetryStatusCodes(),
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
	)
	if err != nil {
		// NewPuller fails only on conflicting options, which New never sets.
		panic(fmt.Sprintf("registry: creating puller: %v", err))
	}
	return p
}

// plain says whether req's host may be reached over plain HTTP (the
// Client's insecure registries and those of req's context).
func (c *Client) plain(req *http.Request) bool {
	return limited{insecure: c.insecure}.allowed(req.Context(), req.URL.Host)
}

// MustNew is New for options that cannot fail (no CA bundle).
func MustNew(opts ...Option) *Client {
	c, err := New(opts...)
	if err != nil {
		panic(err)
	}
	return c
}

// DefaultTransport returns the transport New uses by default.
func DefaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.TLSHandshakeTimeout = 5 * time.Second
	t.ResponseHeaderTimeout = 10 * time.Second
	t.MaxIdleConnsPerHost = 16
	t.MaxResponseHeaderBytes = MaxHeaderBytes
	t.TLSClientConfig.MinVersion = 0x0303 // tls.VersionTLS12
	return t
}

// Keychain returns where the client's credentials come from, for services
// that authenticate like registries (Notary servers).
func (c *Client) Keychain() authn.Keychain { return c.keychain }

// Options returns the go-containerregistry options for requests made on
// behalf of ctx, with the credentials of the keychains ctx carries
// (ContextWithKeychain) before the Client's own. Verifiers use them to fetch
// signatures.
func (c *Client) Options(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.Reuse(c.pullerFor(ctx))}
}

// Resolve returns the digest ref names. A reference that carries a digest is
// returned as is without any request: the digest is what a runtime pulls.
func (c *Client) Resolve(ctx context.Context, ref imageref.Ref) (name.Digest, error) {
	if ref.Digest != "" {
		return ref.DigestRef(ref.Digest)
	}
	tag, err := ref.TagRef()
	if err != nil {
		return name.Digest{}, &verify.FailedError{Reason: "invalid reference", Err: err}
	}
	desc, err := remote.Head(tag, c.Options(ctx)...)
	if err != nil && !definitive(err) {
		// Some registries answer HEAD badly; GET is authoritative.
		var d *remote.Descriptor
		if d, err = remote.Get(tag, c.Options(ctx)...); err == nil {
			desc = &d.Descriptor
		}
	}
	if err != nil {
		return name.Digest{}, Classify(ctx, err, fmt.Sprintf("resolving %s", ref.String()))
	}
	if _, err := v1.NewHash(desc.Digest.String()); err != nil {
		return name.Digest{}, &verify.FailedError{Reason: fmt.Sprintf("registry returned an invalid digest for %s", ref.String()), Err: err}
	}
	return ref.DigestRef(desc.Digest.String())
}

// StatusCode returns the HTTP status of a registry error, 0 if none.
func StatusCode(err error) int {
	var te *transport.Error
	if errors.As(err, &te) {
		return te.StatusCode
	}
	return 0
}

// IsNotFound reports whether err is a registry 404.
func IsNotFound(err error) bool { return StatusCode(err) == http.StatusNotFound }

func definitive(err error) bool {
	switch StatusCode(err) {
	case http.StatusNotFound, http.StatusUnauthorized, http.StatusForbidden:
		return true
	}
	return false
}

// Classify wraps a registry error as a verification outcome. doing says what
// was being done ("resolving docker.io/library/nginx:1.25"). Not found is a
// definitive failure; everything else — timeouts, refused connections,
// 401/403, 429, 5xx — is inconclusive: it tells nothing about the image.
func Classify(ctx context.Context, err error, doing string) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil || errors.Is(err, context.DeadlineExceeded) {
		return &verify.InconclusiveError{Reason: doing + ": registry did not answer before the deadline", Err: err}
	}
	if tl, ok := errors.AsType[*TooLargeError](err); ok {
		// Retrying will not make it smaller: a verdict on what the
		// registry holds for this image.
		return &verify.FailedError{Reason: doing + ": " + tl.Error() + "; check what was pushed there", Err: tl}
	}
	if re, ok := errors.AsType[*RedirectError](err); ok {
		return &verify.InconclusiveError{Reason: doing + ": " + re.Error() + "; check the registry's configuration", Err: re}
	}
	if _, ok := errors.AsType[*InsecureError](err); ok {
		// The whole error: a refused plain HTTP fallback says why the
		// HTTPS attempt before it failed.
		return &verify.InconclusiveError{Reason: doing + ": " + err.Error(), Err: err}
	}
	if ce, ok := errors.AsType[*CredentialsError](err); ok {
		return &verify.InconclusiveError{Reason: doing + ": " + ce.Error(), Err: err}
	}
	switch code := StatusCode(err); {
	case code == http.StatusNotFound:
		return &verify.FailedError{Reason: doing + ": not found in the registry", Err: err}
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return &verify.InconclusiveError{Reason: fmt.Sprintf("%s: registry refused access (HTTP %d); check the credentials signet uses for this registry (the workload's imagePullSecrets or its service account's, a validator's auth.secretName, signet's Docker config)", doing, code), Err: err}
	case code == http.StatusTooManyRequests:
		return &verify.InconclusiveError{Reason: doing + ": registry is rate limiting (HTTP 429)", Err: err}
	case code >= 500:
		return &verify.InconclusiveError{Reason: fmt.Sprintf("%s: registry error (HTTP %d)", doing, code), Err: err}
	case code != 0:
		return &verify.InconclusiveError{Reason: fmt.Sprintf("%s: unexpected registry answer (HTTP %d)", doing, code), Err: err}
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &verify.InconclusiveError{Reason: doing + ": registry closed the connection mid-answer (truncated response)", Err: err}
	case network(err):
		return &verify.InconclusiveError{Reason: doing + ": registry unreachable", Err: err}
	}
	// Not the network, not an HTTP status: the answer itself was unusable
	// (content not matching its digest, malformed JSON).
	return &verify.InconclusiveError{Reason: doing + ": registry sent an unusable answer", Err: err}
}

// network says whether err comes from reaching the registry: dialling,
// DNS, TLS, a connection that broke.
func network(err error) bool {
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	var errno syscall.Errno
	var ue *url.Error
	return errors.As(err, &ne) || errors.As(err, &oe) || errors.As(err, &de) || errors.As(err, &errno) || errors.As(err, &ue) || errors.Is(err, io.EOF)
}

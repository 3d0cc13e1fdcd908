package notation

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/notaryproject/notation-core-go/revocation"
	crlutil "github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/purpose"
	"github.com/notaryproject/notation-core-go/revocation/result"
	nverifier "github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
)

// Bounds on revocation checking (Options.Revocation). OCSP responders and
// CRL distribution points are named by the certificates being checked, so
// what they make signet do is bounded whatever they are.
const (
	// MaxRevocationRequests is the most OCSP and CRL requests one
	// verification makes, over all its signatures and trust roots.
	MaxRevocationRequests = 8
	// MaxRevocationBytes bounds one OCSP response or CRL (notation-go
	// stops OCSP responses at 20 KiB already).
	MaxRevocationBytes = 4 << 20
	// MaxRevocationInFlight bounds the revocation requests a rule's
	// verifications have open at once, so at most MaxRevocationInFlight ×
	// MaxRevocationBytes of responses are held per rule.
	MaxRevocationInFlight = 4
	// RevocationTimeout bounds one request, within the verification's
	// own deadline.
	RevocationTimeout = 5 * time.Second
)

// revocationValidators returns notation-go's revocation options for a
// trust root: with checking off, validators that never touch the network
// (notation-go would otherwise make its own, with a default HTTP client,
// and fetch what any certificate names even at the audit level); with
// checking on, notation-go's validators over a bounded HTTP client.
func revocationValidators(on bool, client *http.Client) (nverifier.VerifierOptions, error) {
	if !on {
		return nverifier.VerifierOptions{RevocationCodeSigningValidator: notChecked{}, RevocationTimestampingValidator: notChecked{}}, nil
	}
	crl, err := crlutil.NewHTTPFetcher(client)
	if err != nil {
		return nverifier.VerifierOptions{}, err
	}
	cs, err := revocation.NewWithOptions(revocation.Options{OCSPHTTPClient: client, CRLFetcher: crl, CertChainPurpose: purpose.CodeSigning})
	if err != nil {
		return nverifier.VerifierOptions{}, err
	}
	ts, err := revocation.NewWithOptions(revocation.Options{OCSPHTTPClient: client, CRLFetcher: crl, CertChainPurpose: purpose.Timestamping})
	if err != nil {
		return nverifier.VerifierOptions{}, err
	}
	return nverifier.VerifierOptions{RevocationCodeSigningValidator: cs, RevocationTimestampingValidator: ts}, nil
}

// notChecked is the revocation validator of rules that do not check
// revocation: every certificate is reported as having no revocation
// information, without a request. (The trust policy skips the signing
// chain's check as well; notation-go consults this validator for the
// timestamping chain of a verified RFC 3161 timestamp.)
type notChecked struct{}

func (notChecked) ValidateContext(_ context.Context, o revocation.ValidateContextOptions) ([]*result.CertRevocationResult, error) {
	out := make([]*result.CertRevocationResult, len(o.CertChain))
	for i := range out {
		out[i] = &result.CertRevocationResult{
			Result:           result.ResultNonRevokable,
			ServerResults:    []*result.ServerResult{{Result: result.ResultNonRevokable, RevocationMethod: result.RevocationMethodUnknown}},
			RevocationMethod: result.RevocationMethodUnknown,
		}
	}
	return out, nil
}

// newRevocationClient is the HTTP client of a rule's revocation checks:
// plain HTTP (OCSP and CRLs are signed, and served over HTTP by design),
// no redirects, the proxy of signet's environment as for TUF, bounded
// time, sizes and requests.
func newRevocationClient() *http.Client {
	base := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: RevocationTimeout}).DialContext,
		ResponseHeaderTimeout:  RevocationTimeout,
		MaxResponseHeaderBytes: 16 << 10,
		MaxIdleConns:           MaxRevocationInFlight,
		IdleConnTimeout:        30 * time.Second,
		DisableCompression:     true,
	}
	return &http.Client{
		Timeout:   RevocationTimeout,
		Transport: &revocationTransport{base: base, slots: make(chan struct{}, MaxRevocationInFlight)},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("revocation responders may not redirect")
		},
	}
}

// revocationTransport enforces the per-verification request budget (from
// the context; without one, nothing is fetched) and the size and
// concurrency bounds.
type revocationTransport struct {
	base  http.RoundTripper
	slots chan struct{}
}

func (t *revocationTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	b, _ := req.Context().Value(budgetKey{}).(*revocationBudget)
	if b == nil {
		return nil, errors.New("revocation checking is not enabled for this verification")
	}
	if req.URL.Scheme != "http" {
		return nil, fmt.Errorf("revocation URL scheme %q is not http", req.URL.Scheme)
	}
	if !b.take() {
		return nil, fmt.Errorf("more than %d OCSP/CRL requests for one image", MaxRevocationRequests)
	}
	select {
	case t.slots <- struct{}{}:
	case <-req.Context().Done():
		b.unreachable(req.Context().Err())
		return nil, req.Context().Err()
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		<-t.slots
		b.unreachable(err)
		return nil, err
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		b.unreachable(fmt.Errorf("%s answered %s", req.URL.Host, resp.Status))
	}
	if resp.ContentLength > MaxRevocationBytes {
		resp.Body.Close()
		<-t.slots
		return nil, fmt.Errorf("revocation response of %d bytes exceeds the limit of %d", resp.ContentLength, MaxRevocationBytes)
	}
	resp.Body = &cappedBody{rc: resp.Body, left: MaxRevocationBytes, release: func() { <-t.slots }}
	return resp, nil
}

// cappedBody fails a read past its limit and frees the request's slot when
// closed.
type cappedBody struct {
	rc      io.ReadCloser
	left    int64
	once    sync.Once
	release func()
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("revocation response exceeds the limit of %d bytes", MaxRevocationBytes)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.rc.Read(p)
	c.left -= int64(n)
	return n, err
}

func (c *cappedBody) Close() error {
	c.once.Do(c.release)
	return c.rc.Close()
}

// revocationBudget counts one verification's revocation requests and
// remembers whether a responder could not be reached: a revocation status
// left unknown for that reason makes the verification inconclusive, not
// failed.
type revocationBudget struct {
	mu   sync.Mutex
	left int
	errs []string
}

type budgetKey struct{}

func withRevocationBudget(ctx context.Context) (context.Context, *revocationBudget) {
	b := &revocationBudget{left: MaxRevocationRequests}
	return context.WithValue(ctx, budgetKey{}, b), b
}

func (b *revocationBudget) take() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.left == 0 {
		return false
	}
	b.left--
	return true
}

func (b *revocationBudget) unreachable(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errs) < MaxRevocationRequests {
		b.errs = append(b.errs, err.Error())
	}
}

// err reports the responders that could not be reached, if any.
func (b *revocationBudget) err() error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.errs) == 0 {
		return nil
	}
	return fmt.Errorf("revocation status unknown: %s", strings.Join(b.errs, "; "))
}

// revocationContext gives a verification its request budget when the rule
// checks revocation.
func (v *Verifier) revocationContext(ctx context.Context) (context.Context, *revocationBudget) {
	if !v.revocation {
		return ctx, nil
	}
	return withRevocationBudget(ctx)
}

// revocationAction is the trust policy's revocation override: skipped
// unless the rule checks revocation, then enforced (at the permissive
// level too, where Notation would only log it: a rule that asks for
// revocation checking means it) or logged, as the rule says.
func revocationAction(action string) map[trustpolicy.ValidationType]trustpolicy.ValidationAction {
	a := trustpolicy.ActionSkip
	switch action {
	case RevocationEnforce:
		a = trustpolicy.ActionEnforce
	case RevocationLog:
		a = trustpolicy.ActionLog
	}
	return map[trustpolicy.ValidationType]trustpolicy.ValidationAction{trustpolicy.TypeRevocation: a}
}

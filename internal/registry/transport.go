package registry

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/signet-dev/signet/internal/metrics"
)

// Retry and concurrency settings of the registry transport.
const (
	// MaxAttempts is how many times one idempotent request is tried.
	MaxAttempts = 3
	// MaxPerHost bounds the requests in flight to one registry host, so a
	// burst of admissions cannot stampede a registry (or its rate limit).
	MaxPerHost = 32
	// baseBackoff is the first wait; each retry triples it, ±20 % jitter.
	baseBackoff = 200 * time.Millisecond
	// maxRetryAfter caps a server's Retry-After.
	maxRetryAfter = 10 * time.Second
)

// economy is the transport under go-containerregistry's authentication:
// it bounds concurrency per host, retries 429 and 5xx answers and dropped
// connections with backoff and jitter (honouring Retry-After) only while
// the request's deadline leaves room, and counts every request by host and
// status. go-containerregistry's own retries are turned off (its fixed 1 s
// and 3 s waits ignore deadlines and Retry-After).
type economy struct {
	inner   http.RoundTripper
	metrics *metrics.Metrics
	perHost int
	sleep   func(ctx context.Context, d time.Duration) error

	// sems holds a semaphore per host only while requests to it are in
	// flight or waiting: the map never outgrows the requests at hand,
	// however many hosts were ever seen.
	mu   sync.Mutex
	sems map[string]*hostSem
}

type hostSem struct {
	ch    chan struct{}
	users int
}

func newEconomy(inner http.RoundTripper, m *metrics.Metrics) *economy {
	return &economy{inner: inner, metrics: m, perHost: MaxPerHost, sleep: sleepCtx, sems: map[string]*hostSem{}}
}

// sem returns host's semaphore; the caller must call release(host) when
// done with it.
func (e *economy) sem(host string) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.sems[host]
	if s == nil {
		s = &hostSem{ch: make(chan struct{}, e.perHost)}
		e.sems[host] = s
	}
	s.users++
	return s.ch
}

func (e *economy) release(host string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s := e.sems[host]; s != nil {
		if s.users--; s.users == 0 {
			delete(e.sems, host)
		}
	}
}

// RoundTrip implements http.RoundTripper.
func (e *economy) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	host := req.URL.Host
	sem := e.sem(host)
	defer e.release(host)
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-sem }()
	idempotent := (req.Method == http.MethodGet || req.Method == http.MethodHead) && req.Body == nil
	for attempt := 1; ; attempt++ {
		resp, err := e.inner.RoundTrip(req)
		e.count(req.URL.Host, resp, err)
		if !idempotent || attempt >= MaxAttempts || !retryable(resp, err) {
			return resp, err
		}
		wait := backoff(attempt)
		if resp != nil {
			if ra, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
				wait = ra
			}
		}
		if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl) {
			// Not worth waiting: the admission would be over. The answer
			// is returned as is and classified (429 → rate limited).
			return resp, err
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
		}
		if serr := e.sleep(ctx, wait); serr != nil {
			return nil, serr
		}
	}
}

func (e *economy) count(host string, resp *http.Response, err error) {
	status := "error"
	if err == nil && resp != nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	e.metrics.RegistryRequest(host, status)
}

// retryable says whether an answer is worth another try: rate limiting,
// server errors that are usually transient, and dropped connections.
// Connection refused and TLS or DNS failures are not: they do not heal in
// a few hundred milliseconds.
func retryable(resp *http.Response, err error) bool {
	if err != nil {
		return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || isTimeout(err)
	}
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusInternalServerError:
		return true
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, context.DeadlineExceeded)
}

// backoff is the wait before try attempt+1: 200 ms, 600 ms, … ±20 %.
func backoff(attempt int) time.Duration {
	d := baseBackoff
	for range attempt - 1 {
		d *= 3
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if s, err := strconv.Atoi(v); err == nil {
		d = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	} else {
		return 0, false
	}
	return min(max(d, 0), maxRetryAfter), true
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

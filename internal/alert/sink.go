package alert

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"

	"golang.org/x/time/rate"

	"github.com/signet-dev/signet/internal/metrics"
)

// Outcomes counted in signet_alerts_total.
const (
	OutcomeSent         = "sent"
	OutcomeDropped      = "dropped"
	OutcomeFailed       = "failed"
	OutcomeDeduplicated = "deduplicated"
)

// maxResponse is how much of a sink's answer is read (and dropped).
const maxResponse = 64 << 10

// sink is one configured destination: its filter, de-duplication groups,
// bounded queue and the goroutine that sends.
type sink struct {
	name        string
	fingerprint string // the resolved configuration: unchanged sinks survive a reload
	events      uint8
	target      string // the URL: a secret
	r           renderer
	title, text *template.Template
	window      time.Duration
	limiter     *rate.Limiter
	retries     int
	backoff     time.Duration
	maxBackoff  time.Duration
	timeout     time.Duration
	client      *http.Client
	log         *slog.Logger
	metrics     *metrics.Metrics

	queue     chan *Alert
	maxGroups int
	mu        sync.Mutex
	groups    map[string]*Alert

	stop   chan struct{}
	done   chan struct{}
	cancel context.CancelFunc // the sink's context, under the Alerter's
}

func (s *sink) count(outcome string) { s.metrics.Alert(s.name, outcome) }

// offer takes an alert on the caller's goroutine without blocking: folded
// into an open group, or a new group (sent when its window ends), or
// queued at once without a window.
func (s *sink) offer(a *Alert) {
	if s.events&a.Event.bit() == 0 {
		return
	}
	if s.window <= 0 {
		s.push(a)
		return
	}
	s.mu.Lock()
	if g := s.groups[a.key]; g != nil {
		g.Count += a.Count
		if a.LastTime.After(g.LastTime) {
			g.LastTime = a.LastTime
		}
		s.mu.Unlock()
		s.count(OutcomeDeduplicated)
		return
	}
	if len(s.groups) >= s.maxGroups {
		s.mu.Unlock()
		s.count(OutcomeDropped)
		return
	}
	g := *a
	s.groups[a.key] = &g
	s.mu.Unlock()
	time.AfterFunc(s.window, func() {
		s.mu.Lock()
		if s.groups[g.key] != &g { // flushed when the sink stopped
			s.mu.Unlock()
			return
		}
		delete(s.groups, g.key)
		s.mu.Unlock() // g is no longer shared
		s.push(&g)
	})
}

// flush queues every open group at once (the sink is stopping).
func (s *sink) flush() {
	s.mu.Lock()
	groups := s.groups
	s.groups = map[string]*Alert{}
	s.mu.Unlock()
	for _, g := range groups {
		s.push(g)
	}
}

// push queues a, or drops it when the queue is full.
func (s *sink) push(a *Alert) {
	select {
	case s.queue <- a:
	default:
		s.count(OutcomeDropped)
	}
}

// run sends queued alerts until ctx (the sink's) is done. Once stopped
// (halt), it sends its open groups and what is queued, then returns.
func (s *sink) run(ctx context.Context) {
	defer close(s.done)
	for {
		select {
		case <-ctx.Done():
			return
		case a := <-s.queue:
			s.deliver(ctx, a)
		case <-s.stop:
			s.flush()
			for ctx.Err() == nil {
				select {
				case a := <-s.queue:
					s.deliver(ctx, a)
				default:
					return
				}
			}
			return
		}
	}
}

// halt stops the sink: it sends what it holds for at most grace, a send
// in flight included, and its goroutine ends.
func (s *sink) halt(grace time.Duration) {
	close(s.stop)
	time.AfterFunc(grace, s.cancel)
}

// deliver sends one alert, retrying network errors, 429 and 5xx with
// exponential backoff and jitter or the sink's Retry-After (bounded by
// maxBackoff).
func (s *sink) deliver(ctx context.Context, a *Alert) {
	if s.limiter != nil && !s.limiter.Allow() {
		s.count(OutcomeDropped)
		s.log.Debug("alert dropped: rate limit", "sink", s.name, "event", a.Event)
		return
	}
	title, text, err := texts(s.r, s.title, s.text, a)
	if err != nil {
		s.log.Warn("alert template failed; using the default", "sink", s.name, "error", err.Error())
		if title, text, err = texts(s.r, defaultTitle, defaultText, a); err != nil {
			s.count(OutcomeFailed)
			return
		}
	}
	body, err := s.r.render(a, title, text)
	if err != nil {
		s.count(OutcomeFailed)
		return
	}
	for attempt := 0; ; attempt++ {
		wait, err := s.post(ctx, body)
		if err == nil {
			s.count(OutcomeSent)
			return
		}
		if wait < 0 || attempt >= s.retries || ctx.Err() != nil {
			s.count(OutcomeFailed)
			s.log.Warn("alert not sent", "sink", s.name, "event", a.Event, "attempts", attempt+1, "error", err.Error())
			return
		}
		if wait == 0 {
			wait = s.backoffFor(attempt)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

// backoffFor is the wait before retry attempt+1: backoff·2^attempt with
// full jitter in its upper half, at most maxBackoff.
func (s *sink) backoffFor(attempt int) time.Duration {
	d := s.backoff << min(attempt, 20)
	if d <= 0 || d > s.maxBackoff {
		d = s.maxBackoff
	}
	return d/2 + rand.N(d/2+1)
}

// post makes one request. It returns a nil error when the sink accepted
// the alert; otherwise the wait before a retry (0: the backoff, negative:
// do not retry) and an error free of the URL.
func (s *sink) post(ctx context.Context, body []byte) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.target, bytes.NewReader(body))
	if err != nil {
		return -1, s.redact(err)
	}
	s.r.header(req.Header, body)
	req.Header.Set("User-Agent", "signet-alerts")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, s.redact(err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return 0, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return retryAfter(resp.Header.Get("Retry-After"), time.Now(), s.maxBackoff), fmt.Errorf("%s answered %s", s.redactedURL(), resp.Status)
	}
	return -1, fmt.Errorf("%s answered %s", s.redactedURL(), resp.Status)
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), at
// most max; 0 when absent or unreadable.
func retryAfter(v string, now time.Time, max time.Duration) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, max)
}

// redactedURL is the sink's URL without its path and query, which hold
// the credentials of Slack's and Teams' webhooks.
func (s *sink) redactedURL() string {
	u, err := url.Parse(s.target)
	if err != nil {
		return "the " + s.name + " sink"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// redact removes the URL from an error (net/http's *url.Error names it).
func (s *sink) redact(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return fmt.Errorf("%s %s: %s", ue.Op, s.redactedURL(), strings.ReplaceAll(ue.Err.Error(), s.target, s.redactedURL()))
	}
	return errors.New(strings.ReplaceAll(err.Error(), s.target, s.redactedURL()))
}

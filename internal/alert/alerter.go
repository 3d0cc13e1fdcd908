package alert

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/metrics"
)

// Options are an Alerter's dependencies.
type Options struct {
	Log     *slog.Logger
	Metrics *metrics.Metrics
	// Transport sends the alerts; nil: a clone of http.DefaultTransport
	// (system roots, proxy from the environment).
	Transport http.RoundTripper
	// LookupEnv reads environment variables; nil: os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// CloseGrace bounds how long a sink stopped by Close or a reload
	// sends what it holds; 0: DefaultCloseGrace.
	CloseGrace time.Duration
}

// Alerter fans events out to the sinks of an alerts file. A nil *Alerter
// is valid and sends nothing. Every method that takes an event returns
// without waiting on a sink.
type Alerter struct {
	path string
	opts Options

	ctx    context.Context
	cancel context.CancelFunc

	mu    sync.Mutex // reloads
	hash  string
	state atomic.Pointer[state]
}

type state struct {
	cluster string
	events  uint8 // any sink's
	sinks   []*sink
}

// Open loads the alerts file at path and starts its sinks. A file that
// does not load is an error.
func Open(path string, o Options) (*Alerter, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.CloseGrace <= 0 {
		o.CloseGrace = DefaultCloseGrace
	}
	if o.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 2
		o.Transport = t
	}
	a := &Alerter{path: path, opts: o}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	if _, err := a.Reload(); err != nil {
		a.cancel()
		return nil, err
	}
	return a, nil
}

// Path is the alerts file.
func (a *Alerter) Path() string { return a.path }

// Reload reads the file and the secrets it names and, when any changed,
// puts the new sinks in force; it reports whether it did. A sink whose
// resolved configuration is unchanged is kept (its queue, groups and rate
// limit with it); a removed or changed one sends what it has queued and
// stops. On an error nothing changes.
func (a *Alerter) Reload() (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ctx.Err() != nil {
		return false, errors.New("alerts closed")
	}
	c, secrets, hash, err := a.load()
	if err != nil {
		return false, err
	}
	if hash == a.hash {
		return false, nil
	}
	old := map[string]*sink{}
	if st := a.state.Load(); st != nil {
		for _, s := range st.sinks {
			old[s.fingerprint] = s
		}
	}
	next := &state{cluster: c.Cluster}
	for i := range c.Sinks {
		fp := fingerprint(&c.Sinks[i], secrets[i])
		s := old[fp]
		if s != nil {
			delete(old, fp)
		} else {
			s = a.newSink(&c.Sinks[i], secrets[i], fp)
			var ctx context.Context
			ctx, s.cancel = context.WithCancel(a.ctx)
			go s.run(ctx)
		}
		next.sinks = append(next.sinks, s)
		next.events |= s.events
	}
	a.state.Store(next)
	a.hash = hash
	for _, s := range old {
		s.halt(a.opts.CloseGrace)
	}
	return true, nil
}

// resolved are a sink's secrets, read.
type resolved struct{ url, apiKey, secret string }

func (a *Alerter) load() (*Config, []resolved, string, error) {
	f, err := os.Open(a.path)
	if err != nil {
		return nil, nil, "", fmt.Errorf("reading alerts: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	f.Close()
	if err != nil {
		return nil, nil, "", fmt.Errorf("reading alerts: %w", err)
	}
	c, err := Parse(data)
	if ce, ok := err.(*ConfigError); ok {
		ce.Source = a.path
	}
	if err != nil {
		return nil, nil, "", err
	}
	h := sha256.New()
	h.Write(data)
	secrets := make([]resolved, len(c.Sinks))
	for i := range c.Sinks {
		s := &c.Sinks[i]
		r := &secrets[i]
		r.url = s.URL
		for _, x := range []struct {
			ref *SecretRef
			to  *string
		}{{s.URLFrom, &r.url}, {s.APIKeyFrom, &r.apiKey}, {s.SecretFrom, &r.secret}} {
			if x.ref == nil {
				continue
			}
			if *x.to, err = x.ref.read(filepath.Dir(a.path), a.opts.LookupEnv); err != nil {
				return nil, nil, "", fmt.Errorf("%s: sink %s: %w", a.path, s.Name, err)
			}
		}
		if s.Type == TypeOpsgenie && r.url == "" {
			r.url = OpsgenieUS
			if s.Region == "eu" {
				r.url = OpsgenieEU
			}
		}
		if s.URLFrom != nil {
			// Checked without quoting the URL: it is a secret.
			if err := checkURL(r.url); err != nil {
				return nil, nil, "", fmt.Errorf("%s: sink %s: urlFrom: %w", a.path, s.Name, err)
			}
		}
		fmt.Fprintf(h, "\x00%s\x00%s\x00%s", r.url, r.apiKey, r.secret)
	}
	return c, secrets, hex.EncodeToString(h.Sum(nil)[:8]), nil
}

func fingerprint(s *SinkConfig, r resolved) string {
	b, _ := json.Marshal(s)
	h := sha256.New()
	h.Write(b)
	fmt.Fprintf(h, "\x00%s\x00%s\x00%s", r.url, r.apiKey, r.secret)
	return hex.EncodeToString(h.Sum(nil))
}

func (a *Alerter) newSink(c *SinkConfig, r resolved, fp string) *sink {
	s := &sink{
		name: c.Name, fingerprint: fp, target: r.url,
		title: defaultTitle, text: defaultText,
		window: DefaultDedupeWindow, retries: DefaultRetries, backoff: DefaultBackoff, maxBackoff: DefaultMaxBackoff, timeout: DefaultTimeout,
		log: a.opts.Log, metrics: a.opts.Metrics,
		groups: map[string]*Alert{}, stop: make(chan struct{}), done: make(chan struct{}),
		client: &http.Client{
			Transport: a.opts.Transport,
			// A redirect is a failure: the URL was given, and a
			// redirect could carry the payload where it was not.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	events := c.Events
	if len(events) == 0 {
		events = []Event{EventDenied, EventReverificationFailed}
	}
	for _, e := range events {
		s.events |= e.bit()
	}
	if t := c.Template; t != nil {
		if t.Title != "" {
			s.title, _ = parseTemplate(t.Title) // checked by Parse
		}
		if t.Text != "" {
			s.text, _ = parseTemplate(t.Text)
		}
	}
	if c.DedupeWindow != nil {
		s.window = *c.DedupeWindow
	}
	if c.RateLimit != nil {
		s.limiter = rate.NewLimiter(rate.Every(c.RateLimit.Per/time.Duration(c.RateLimit.Count)), c.RateLimit.Count)
	}
	size := c.QueueSize
	if size == 0 {
		size = DefaultQueue
	}
	s.queue, s.maxGroups = make(chan *Alert, size), size
	if rt := c.Retry; rt != nil {
		if rt.Max != nil {
			s.retries = *rt.Max
		}
		if rt.Backoff > 0 {
			s.backoff = rt.Backoff
		}
		if rt.MaxBackoff > 0 {
			s.maxBackoff = rt.MaxBackoff
		}
	}
	if c.Timeout > 0 {
		s.timeout = c.Timeout
	}
	switch c.Type {
	case TypeSlack:
		s.r = slack{}
	case TypeTeams:
		s.r = teams{}
	case TypeOpsgenie:
		s.r = opsgenie{key: r.apiKey, priority: cmpOr(c.Priority, "P3"), tags: c.Tags}
	default:
		s.r = webhook{secret: []byte(r.secret)}
	}
	return s
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// DefaultCloseGrace is how long Close lets the sinks send what they hold.
const DefaultCloseGrace = 5 * time.Second

// Close stops the sinks: each sends its open de-duplication groups and
// its queue, for at most Options.CloseGrace in all; what is left is lost.
func (a *Alerter) Close() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.state.Load()
	if st == nil {
		return
	}
	for _, s := range st.sinks {
		s.halt(a.opts.CloseGrace)
	}
	a.state.Store(nil)
	for _, s := range st.sinks {
		<-s.done // each within the grace, all at once
	}
	a.cancel()
}

// Wants says whether any sink fires on e: callers skip building an
// alert nobody takes.
func (a *Alerter) Wants(e Event) bool {
	if a == nil {
		return false
	}
	st := a.state.Load()
	return st != nil && st.events&e.bit() != 0
}

// Fire hands al to every sink that fires on its event. It never blocks;
// al must not be used afterwards.
func (a *Alerter) Fire(al *Alert) {
	if a == nil {
		return
	}
	st := a.state.Load()
	if st == nil || st.events&al.Event.bit() == 0 {
		return
	}
	al.normalise(st.cluster, time.Now())
	for _, s := range st.sinks {
		s.offer(al)
	}
}

// Decisions returns a decision sink that writes every record to next (nil:
// none) and fires denied and warned admissions.
func (a *Alerter) Decisions(next decisionlog.Sink) decisionlog.Sink {
	if next == nil {
		next = decisionlog.Discard
	}
	if a == nil {
		return next
	}
	return tee{a, next}
}

type tee struct {
	a    *Alerter
	next decisionlog.Sink
}

func (t tee) Write(r *decisionlog.Record) {
	t.next.Write(r)
	if (r.Decision == "denied" && t.a.Wants(EventDenied)) || (r.Decision == "warned" && t.a.Wants(EventWarned)) {
		if al := fromRecord(r); al != nil {
			t.a.Fire(al)
		}
	}
}

// PolicyReloadFailed fires policy-reload-failed for the policy at source.
func (a *Alerter) PolicyReloadFailed(source string, err error) {
	if !a.Wants(EventPolicyReloadFailed) {
		return
	}
	a.Fire(&Alert{Event: EventPolicyReloadFailed, Object: Object{Kind: "Policy", Name: source},
		Message: "the policy was rejected; the previous policy stays in force: " + err.Error()})
}

// RedisBreakerOpen fires redis-breaker-open: the shared cache failed and
// is skipped for a while.
func (a *Alerter) RedisBreakerOpen(err error) {
	if !a.Wants(EventRedisBreakerOpen) {
		return
	}
	a.Fire(&Alert{Event: EventRedisBreakerOpen, Message: "the Redis cache is unavailable; answering from memory: " + err.Error()})
}

// ReverificationFailed fires reverification-failed: images of a running
// object, admitted before, fail verification now.
func (a *Alerter) ReverificationFailed(namespace string, obj Object, images []Image) {
	if !a.Wants(EventReverificationFailed) {
		return
	}
	al := &Alert{Event: EventReverificationFailed, Decision: "failed", Namespace: namespace, Object: obj}
	for _, im := range images {
		al.addImage(im)
	}
	a.Fire(al)
}

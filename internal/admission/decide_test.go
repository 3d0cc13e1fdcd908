package admission_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/verify"
)

// TestDecideSharesLimits: Decide (the external-data front end) draws on the
// webhook's bounds — the process's verification slots, the review slots —
// so a request of 1,000 keys against a registry that never answers opens
// connections by the slots, not by the keys, alongside a webhook request.
func TestDecideSharesLimits(t *testing.T) {
	host, conns := stalledRegistry(t)
	eng := engine(t, `- {pattern: "`+host+`/**", validator: signed}
- {pattern: "static.example/**", validator: allow}`)
	const slots = 4
	rv := admission.NewReviewer(eng, nil, admission.Options{MaxVerifications: slots, Timeout: time.Second}, nil, nil)
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s/app%d:v1", host, i)
	}
	keys = append(keys, "static.example/app:v1")
	var (
		wg        sync.WaitGroup
		decisions map[string]policy.Decision
		err       error
		webhook   answer
	)
	wg.Go(func() { decisions, err = rv.Decide(context.Background(), "", keys) })
	wg.Go(func() {
		code, out := post(t, rv.Handler(false), "application/json", podReview("w", "Pod", keys[:50]))
		webhook = decodeAnswer(t, code, out)
	})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if c := conns.Load(); c > 4*slots {
		t.Errorf("%d registry connections, want at most %d (MaxVerifications, four each)", c, 4*slots)
	}
	if len(decisions) != len(keys) {
		t.Fatalf("%d decisions for %d keys", len(decisions), len(keys))
	}
	limited := 0
	for _, k := range keys[:1000] {
		d := decisions[k]
		if d.Allowed || d.Outcome != verify.Inconclusive {
			t.Fatalf("%s: %+v", k, d)
		}
		if strings.Contains(d.Reason, "images at once, its limit") {
			limited++
		}
	}
	if limited == 0 {
		t.Error("no key says it waited for a verification slot")
	}
	if d := decisions["static.example/app:v1"]; !d.Allowed {
		t.Errorf("static key: %+v", d)
	}
	if webhook.Response.Allowed {
		t.Errorf("webhook answer %+v", webhook.Response)
	}
}

// TestDecideErrors: no policy yet, and no review slot before the deadline.
func TestDecideErrors(t *testing.T) {
	t.Parallel()
	none := admission.NewReviewer(func() *policy.Engine { return nil }, nil, admission.Options{}, nil, nil)
	if _, err := none.Decide(context.Background(), "", []string{"x.example/a:v1"}); !errors.Is(err, admission.ErrNoPolicy) {
		t.Errorf("no policy: %v", err)
	}
	host, _ := stalledRegistry(t)
	rv := admission.NewReviewer(engine(t, `- {pattern: "**", validator: signed}`), nil, admission.Options{MaxReviews: 1, Timeout: 2 * time.Second}, nil, nil)
	first := make(chan struct{})
	go func() { rv.Decide(context.Background(), "", []string{host + "/app:v1"}); close(first) }() // holds the slot 2 s
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := rv.Decide(ctx, "", []string{"x.example/a:v1"})
	<-first
	if !errors.Is(err, admission.ErrBusy) {
		t.Errorf("busy: %v", err)
	}
}

// recordSink keeps the records written.
type recordSink struct {
	mu      sync.Mutex
	records []decisionlog.Record
}

func (s *recordSink) Write(r *decisionlog.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, *r)
}

type requiredErr struct{ err error }

func (r *requiredErr) Err() error { return r.err }

// TestDecideLogged: each Decide is one decision record, webhook
// "externaldata", with every image; while the audit log is required and
// cannot be written, nothing is decided.
func TestDecideLogged(t *testing.T) {
	t.Parallel()
	sink := &recordSink{}
	required := &requiredErr{}
	rv := admission.NewReviewer(engine(t, `- {pattern: "static.example/**", validator: allow}`), nil, admission.Options{Decisions: sink, Required: required}, nil, nil)
	if _, err := rv.Decide(context.Background(), "", []string{"static.example/a:v1", "other.example/b:v1"}); err != nil {
		t.Fatal(err)
	}
	required.err = errors.New("disk full")
	if _, err := rv.Decide(context.Background(), "", []string{"static.example/a:v1"}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("with the audit log failing: %v", err)
	}
	if len(sink.records) != 2 {
		t.Fatalf("%d records", len(sink.records))
	}
	r := sink.records[0]
	if r.Webhook != "externaldata" || r.Decision != "denied" || r.Reason != "1 of 2 image(s) denied" || len(r.Images) != 2 || !r.Images[0].Allowed || r.Images[1].Allowed {
		t.Errorf("record %+v", r)
	}
	if r := sink.records[1]; r.Decision != "denied" || !strings.Contains(r.Reason, "audit log") {
		t.Errorf("record %+v", r)
	}
}

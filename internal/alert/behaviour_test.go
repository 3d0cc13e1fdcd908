package alert_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/alert"
	"github.com/signet-dev/signet/internal/decisionlog"
)

func webhookConfig(url, extra string) string {
	return "sinks:\n  - name: hook\n    type: webhook\n    url: " + url + "\n" + extra
}

// openWebhook opens an Alerter with one webhook sink, "hook", posting to a
// new receiver; extra is more of the sink's fields.
func openWebhook(t *testing.T, extra string) (*receiver, *env, *alert.Alerter) {
	t.Helper()
	rc := newReceiver(t)
	e := newEnv(t)
	return rc, e, e.open(t, webhookConfig(rc.URL, extra), rc.Client().Transport)
}

// denyDistinct writes n denials, each of another image.
func denyDistinct(a *alert.Alerter, n int) {
	for i := range n {
		a.Decisions(decisionlog.Discard).Write(denial("p", fmt.Sprintf("registry.example/img%d:1", i), "no"))
	}
}

// TestDedupe: the same image denied 500 times within the window, for Pods
// of different names, is one alert with count 500, sent when the window
// ends; another image is another alert.
func TestDedupe(t *testing.T) {
	rc, e, a := openWebhook(t, "    dedupeWindow: 500ms\n")
	d := a.Decisions(decisionlog.Discard)
	for i := range 500 {
		d.Write(denial(fmt.Sprintf("web-%d", i), "registry.example/bad:1", fmt.Sprintf("no signature (attempt %d)", i)))
	}
	d.Write(denial("other", "registry.example/other:1", "no signature"))
	got := rc.wait(t, 2)
	counts := map[string]int{}
	for _, r := range got {
		var p alert.Alert
		decodeJSON(t, r.body, &p)
		counts[p.Images[0].Image] = p.Count
		if p.Count == 500 && !p.LastTime.After(p.Time) && !p.LastTime.Equal(p.Time) {
			t.Errorf("time range %v – %v", p.Time, p.LastTime)
		}
	}
	if counts["registry.example/bad:1"] != 500 || counts["registry.example/other:1"] != 1 {
		t.Errorf("counts %v, want 500 and 1", counts)
	}
	time.Sleep(700 * time.Millisecond) // a second window would have ended
	if n := len(rc.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if got := e.count(t, "hook", alert.OutcomeDeduplicated); got != 499 {
		t.Errorf("deduplicated %v, want 499", got)
	}
}

// TestRateLimit: beyond the rate limit alerts are dropped and counted.
func TestRateLimit(t *testing.T) {
	rc, e, a := openWebhook(t, "    dedupeWindow: 0s\n    rateLimit: {count: 2, per: 1h}\n")
	denyDistinct(a, 5)
	e.waitCount(t, "hook", alert.OutcomeDropped, 3)
	e.waitCount(t, "hook", alert.OutcomeSent, 2)
	if n := len(rc.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

// TestRetries: 429 with Retry-After and 5xx are retried (the wait the
// sink asked for honoured), other answers are not, and retries end.
func TestRetries(t *testing.T) {
	tests := []struct {
		name     string
		answer   func(n int, w http.ResponseWriter) bool
		requests int
		outcome  string
		minGap   time.Duration
	}{
		{"429 Retry-After", func(n int, w http.ResponseWriter) bool {
			if n == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return true
			}
			return false
		}, 2, alert.OutcomeSent, time.Second},
		{"503 then 200", func(n int, w http.ResponseWriter) bool {
			if n < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
			return false
		}, 3, alert.OutcomeSent, 0},
		{"400 not retried", func(_ int, w http.ResponseWriter) bool {
			w.WriteHeader(http.StatusBadRequest)
			return true
		}, 1, alert.OutcomeFailed, 0},
		{"500 until retries end", func(_ int, w http.ResponseWriter) bool {
			w.WriteHeader(http.StatusInternalServerError)
			return true
		}, 3, alert.OutcomeFailed, 0},
		{"redirect not followed", func(_ int, w http.ResponseWriter) bool {
			w.Header().Set("Location", "https://elsewhere.example/")
			w.WriteHeader(http.StatusTemporaryRedirect)
			return true
		}, 1, alert.OutcomeFailed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			rc.answer = tt.answer
			e := newEnv(t)
			a := e.open(t, webhookConfig(rc.URL, "    dedupeWindow: 0s\n    retry: {max: 2, backoff: 10ms, maxBackoff: 5s}\n"), rc.Client().Transport)
			a.Decisions(decisionlog.Discard).Write(denial("p", "registry.example/bad:1", "no"))
			e.waitCount(t, "hook", tt.outcome, 1)
			got := rc.requests()
			if len(got) != tt.requests {
				t.Fatalf("%d requests, want %d", len(got), tt.requests)
			}
			if tt.minGap > 0 {
				if gap := got[1].at.Sub(got[0].at); gap < tt.minGap {
					t.Errorf("retried after %v; Retry-After asked for %v", gap, tt.minGap)
				}
			}
		})
	}
}

// TestDeadSink: a sink that never answers costs the caller nothing: 100,000
// denials of distinct images are taken without blocking, the queue bound
// holds (measured as heap), and what does not fit is dropped and counted.
func TestDeadSink(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t)
	rc.answer = func(int, http.ResponseWriter) bool { <-release; return false }
	t.Cleanup(func() { close(release) })
	e := newEnv(t)
	a := e.open(t, webhookConfig(rc.URL, "    dedupeWindow: 0s\n    queueSize: 64\n    timeout: 1m\n"), rc.Client().Transport)
	d := a.Decisions(decisionlog.Discard)
	recs := make([]*decisionlog.Record, 1000)
	for i := range recs {
		recs[i] = denial("p", fmt.Sprintf("registry.example/%s/img%d:1", strings.Repeat("x", 200), i), strings.Repeat("r", 2000))
	}
	for range 3 { // the queue fills with the first 65
		d.Write(recs[0])
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	const n = 100000
	for i := range n {
		d.Write(recs[i%len(recs)])
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	// 64 queued alerts and one in flight, each ≤ ~8 KiB of bounded strings.
	const bound = 2 << 20
	t.Logf("heap grew %d bytes after %d denials to a dead sink", grew, n)
	if grew > bound {
		t.Errorf("heap grew %d bytes, bound %d", grew, bound)
	}
	if got := e.count(t, "hook", alert.OutcomeDropped); got < n-65 {
		t.Errorf("dropped %v, want ≥ %d", got, n-65)
	}
}

// TestDedupeGroupsBounded: distinct alerts in a window open at most
// queueSize groups; beyond that they are dropped, not held.
func TestDedupeGroupsBounded(t *testing.T) {
	_, e, a := openWebhook(t, "    dedupeWindow: 1h\n    queueSize: 10\n")
	denyDistinct(a, 100)
	if got := e.count(t, "hook", alert.OutcomeDropped); got != 90 {
		t.Errorf("dropped %v, want 90", got)
	}
}

// TestCloseFlushes: alerts waiting in a de-duplication window are sent
// when signet stops, not lost.
func TestCloseFlushes(t *testing.T) {
	rc, _, a := openWebhook(t, "    dedupeWindow: 1h\n")
	for i := range 3 {
		a.Decisions(decisionlog.Discard).Write(denial(fmt.Sprint(i), "registry.example/bad:1", "no"))
	}
	a.Close()
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	var p alert.Alert
	decodeJSON(t, got[0].body, &p)
	if p.Count != 3 {
		t.Errorf("count %d, want 3", p.Count)
	}
	a.Decisions(decisionlog.Discard).Write(denial("late", "registry.example/bad:1", "no")) // after Close: nothing, no panic
	if _, err := a.Reload(); err == nil {
		t.Error("reloaded after Close")
	}
}

// TestReloadStopsOldSinks: a sink replaced by a reload ends within the
// grace even while its receiver never answers: reloads do not pile up
// goroutines.
func TestReloadStopsOldSinks(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t)
	rc.answer = func(int, http.ResponseWriter) bool { <-release; return false }
	t.Cleanup(func() { close(release) })
	e := newEnv(t)
	a := e.open(t, webhookConfig(rc.URL, "    dedupeWindow: 0s\n    timeout: 1m\n"), rc.Client().Transport)
	a.Decisions(decisionlog.Discard).Write(denial("p", "registry.example/bad:1", "no"))
	rc.wait(t, 1)
	for i := range 20 {
		e.file(t, "alerts.yaml", webhookConfig(rc.URL, fmt.Sprintf("    dedupeWindow: 0s\n    timeout: 1m\n    queueSize: %d\n", i+1)))
		if _, err := a.Reload(); err != nil {
			t.Fatal(err)
		}
		a.Decisions(decisionlog.Discard).Write(denial("p", "registry.example/bad:1", "no"))
	}
	e.waitCount(t, "hook", alert.OutcomeFailed, 20) // each cut off by its grace (1 s)
	// The receiver's handlers stay blocked; the sinks' goroutines must not.
	for deadline := time.Now().Add(10 * time.Second); sinkGoroutines() > 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sink goroutines, want the one in force", sinkGoroutines())
		}
	}
}

func sinkGoroutines() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "alert.(*sink).run(")
}

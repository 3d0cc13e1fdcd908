package alert_test

import (
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/alert"
	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/metrics"
)

// received is one request a receiver got.
type received struct {
	path   string
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a local HTTPS server standing in for a sink's service; its
// answer function decides each response (nil: 200).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int, w http.ResponseWriter) bool // true: answered
	arrive chan struct{}
}

func newReceiver(t testing.TB) *receiver {
	t.Helper()
	r := &receiver{arrive: make(chan struct{}, 100000)}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		r.mu.Lock()
		r.got = append(r.got, received{path: req.URL.Path, header: req.Header.Clone(), body: body, at: time.Now()})
		n := len(r.got)
		answer := r.answer
		r.mu.Unlock()
		r.arrive <- struct{}{}
		if answer != nil && answer(n, w) {
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	r.Config.ErrorLog = log.New(io.Discard, "", 0) // connections cut by Close
	r.StartTLS()
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// wait waits for n requests in all (a test timeout if they never come).
func (r *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for len(r.requests()) < n {
		select {
		case <-r.arrive:
		case <-deadline:
			t.Fatalf("got %d requests, want %d", len(r.requests()), n)
		}
	}
	return r.requests()
}

// env is an alerts file, its secrets and the logs and metrics of the
// Alerter opened on it.
type env struct {
	dir  string
	vars map[string]string
	logs logFile
	m    *metrics.Metrics
}

// logFile is the Alerter's log: a file, written to concurrently by the
// sinks (an *os.File is safe for that) and read by the test.
type logFile struct{ *os.File }

func (l logFile) String() string {
	b, _ := os.ReadFile(l.Name())
	return string(b)
}

func newEnv(t testing.TB) *env {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &env{dir: dir, vars: map[string]string{}, logs: logFile{f}, m: metrics.New()}
}

func (e *env) file(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) open(t testing.TB, config string, tr http.RoundTripper) *alert.Alerter {
	t.Helper()
	a, err := alert.Open(e.file(t, "alerts.yaml", config), alert.Options{
		Log:        slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics:    e.m,
		Transport:  tr,
		LookupEnv:  func(k string) (string, bool) { v, ok := e.vars[k]; return v, ok },
		CloseGrace: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// count reads signet_alerts_total{sink,outcome}.
func (e *env) count(t *testing.T, sink, outcome string) float64 {
	t.Helper()
	mfs, err := e.m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "signet_alerts_total" {
			continue
		}
		for _, mm := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range mm.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["sink"] == sink && l["outcome"] == outcome {
				return mm.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// denial is the decision record of a denied Pod.
func denial(name, image, reason string) *decisionlog.Record {
	return &decisionlog.Record{
		Time: time.Now(), UID: "u", Webhook: "validate", Kind: "Pod", Namespace: "team-a", Name: name, Operation: "CREATE",
		User: "system:serviceaccount:ci:deployer", Decision: "denied", Reason: "image denied",
		Images: []decisionlog.Image{
			{Path: "/spec/containers/0/image", Image: image, Allowed: false, Outcome: "failed", Mode: "enforce", Rule: "registry.example/**", Validator: "prod", Reason: reason},
			{Path: "/spec/containers/1/image", Image: "registry.example/ok:1", Allowed: true, Outcome: "verified", Mode: "enforce", Rule: "registry.example/**"},
		},
	}
}

func decodeJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

// waitCount waits until signet_alerts_total{sink,outcome} reaches n.
func (e *env) waitCount(t *testing.T, sink, outcome string, n float64) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); e.count(t, sink, outcome) < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %v, want %v", sink, outcome, e.count(t, sink, outcome), n)
		}
	}
}

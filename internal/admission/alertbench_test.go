package admission_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/alert"
	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/metrics"
)

// BenchmarkDeniedDeadAlertSink: denials of an unsigned image (its failed
// verification cached) through the HTTP handler, without alerts and with
// every denial sent (no de-duplication window) to a webhook that never
// answers. Reports the p99 latency of a request besides the mean: a dead
// sink must leave both where they were.
func BenchmarkDeniedDeadAlertSink(b *testing.B) {
	image, doc := benchImage(b, false)
	release := make(chan struct{})
	dead := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer dead.Close()
	defer close(release) // before Close, which waits for the handler
	body := benchPodReview(image)
	for _, bc := range []struct {
		name   string
		alerts bool
	}{{"no alerts", false}, {"dead sink", true}} {
		b.Run(bc.name, func(b *testing.B) {
			m := metrics.New()
			var decisions decisionlog.Sink = decisionlog.New(io.Discard)
			if bc.alerts {
				path := filepath.Join(b.TempDir(), "alerts.yaml")
				os.WriteFile(path, []byte("sinks:\n  - name: dead\n    type: webhook\n    url: "+dead.URL+"\n    dedupeWindow: 0s\n    timeout: 1m\n"), 0o600)
				a, err := alert.Open(path, alert.Options{Metrics: m})
				if err != nil {
					b.Fatal(err)
				}
				defer a.Close()
				decisions = a.Decisions(decisions)
			}
			h := benchHandler(b, doc, decisions, m)
			var lat []time.Duration
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/mutate?timeout=10s", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(rec, req)
				lat = append(lat, time.Since(start))
				if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"allowed":false`)) {
					b.Fatalf("HTTP %d: %s", rec.Code, rec.Body.String())
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

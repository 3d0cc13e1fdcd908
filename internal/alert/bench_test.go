package alert_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/signet-dev/signet/internal/decisionlog"
)

// BenchmarkDecisionsDeadSink is what an admission pays to hand a denial to
// a sink that never answers: with de-duplication (the default: most
// denials fold into a group) and without (each one queued, or dropped
// once the queue is full). No sink: what a warned or allowed decision
// pays when nothing fires on it.
func BenchmarkDecisionsDeadSink(b *testing.B) {
	for _, bc := range []struct{ name, extra string }{
		{"dedupe", "    dedupeWindow: 1m\n"},
		{"queue", "    dedupeWindow: 0s\n"},
		{"no sink for the event", "    events: [redis-breaker-open]\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rc := newReceiver(b)
			defer rc.Close()
			release := make(chan struct{})
			defer close(release) // before Close, which waits for the handlers
			rc.answer = func(int, http.ResponseWriter) bool { <-release; return false }
			e := newEnv(b)
			a := e.open(b, webhookConfig(rc.URL, bc.extra), rc.Client().Transport)
			defer a.Close()
			d := a.Decisions(decisionlog.Discard)
			recs := make([]*decisionlog.Record, 16)
			for i := range recs {
				recs[i] = denial(fmt.Sprintf("web-%d", i), fmt.Sprintf("registry.example/img%d:1", i), "no valid signature")
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					d.Write(recs[i%len(recs)])
					i++
				}
			})
		})
	}
}

package faults_test

import (
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/test/harness"
	"github.com/signet-dev/signet/test/hostile"
)

// TestSIGTERMUnderLoad: 32 clients admit a signed and an unsigned image
// through /validate and /mutate without pause, every admission verified
// afresh against a registry that takes 200 ms per signature fetch, so
// dozens are in flight when signet serve gets SIGTERM. Then:
//
//   - every request that got an answer got a correct one: HTTP 200, a
//     whole AdmissionReview, the unsigned image never allowed, the signed
//     one pinned by /mutate — no 5xx, no truncated body;
//   - requests in flight at SIGTERM are answered (drained), and requests
//     without an answer all ended after SIGTERM (refused or closed
//     connections: the API server's to retry or fail closed);
//   - /readyz stops answering 200;
//   - the process exits 0 within --shutdown-grace plus a margin.
func TestSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	const (
		workers = 32
		grace   = 5 * time.Second
		margin  = 3 * time.Second
	)
	key := testutil.NewKey(t)
	reg := hostile.New(t)
	signed, unsigned := pushImages(t, reg, key)
	reg.On("GET", ".sig", hostile.Fault{Delay: 200 * time.Millisecond})
	s := harness.StartServe(t, keyPolicy(key, reg.Host), "--shutdown-grace", grace.String(),
		"--cache-ttl=-1s", "--cache-failed-ttl=-1s", "--tag-ttl=-1s")
	c := s.Client(s.CertPEM, workers)
	l := startLoad(s, c, workers, 10_000, true, signed, unsigned)
	defer l.stop()
	l.waitAnswered(t, 2*workers, 60*time.Second)

	term := time.Now()
	s.Signal(t, syscall.SIGTERM)
	probe := s.Client(s.CertPEM, 0)
	unready := ""
	eventually(t, "/readyz to stop answering 200", grace, func() bool {
		resp, err := probe.Get("https://" + s.Addr + "/readyz")
		if err != nil {
			unready = "connection refused or closed"
			return true
		}
		resp.Body.Close()
		unready = resp.Status
		return resp.StatusCode != http.StatusOK
	})
	code, exited := s.Wait(grace + margin)
	took := time.Since(term)
	if !exited {
		t.Fatalf("still running %s after SIGTERM (--shutdown-grace %s)", took, grace)
	}
	if code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	results := l.stop()

	var answered, drained, unanswered, bad int
	for _, r := range results {
		why := ""
		switch {
		case r.answer != nil && r.err != nil:
			why = "truncated answer: " + r.err.Error()
		case r.err != nil:
			unanswered++
			if r.done.Before(term) {
				why = "no answer before SIGTERM: " + r.err.Error()
			}
		default:
			answered++
			if r.sent.Before(term) && r.done.After(term) {
				drained++
			}
			why = judge(r.webhook, r.uid, r.img, r.answer)
		}
		if why != "" {
			if bad++; bad <= 10 {
				t.Errorf("%s %s (%s): %s", r.webhook, r.uid, r.img.ref, why)
			}
		}
	}
	t.Logf("%d requests: %d answered (%d in flight at SIGTERM), %d without an answer after SIGTERM; /readyz: %s; exited %d after %s",
		len(results), answered, drained, unanswered, unready, code, took.Round(time.Millisecond))
	if bad > 0 {
		t.Errorf("%d requests answered wrongly", bad)
	}
	if drained == 0 {
		t.Error("no request in flight at SIGTERM was answered: nothing was drained")
	}
	for _, want := range []string{"shutting down: draining requests", `"msg":"stopped"`} {
		if s.Log.Count(want) != 1 {
			t.Errorf("the log does not say %s once", want)
		}
	}
}

package admission_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/workload"
)

const miB = 1 << 20

// podReview is an AdmissionReview of a Pod CREATE of kind (normally
// "Pod") running images, one container each.
func podReview(uid, kind string, images []string) []byte {
	cs := make([]map[string]string, len(images))
	for i, img := range images {
		cs[i] = map[string]string{"name": fmt.Sprintf("c%d", i), "image": img}
	}
	b, _ := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{"uid": uid, "kind": map[string]string{"kind": kind, "version": "v1"}, "operation": "CREATE",
			"namespace": "team", "object": map[string]any{"spec": map[string]any{"containers": cs}}}})
	return b
}

type answer struct {
	Response struct {
		UID      string   `json:"uid"`
		Allowed  bool     `json:"allowed"`
		Warnings []string `json:"warnings"`
		Status   struct {
			Message string `json:"message"`
		} `json:"status"`
	} `json:"response"`
}

func decodeAnswer(t *testing.T, code int, b []byte) answer {
	t.Helper()
	var a answer
	if err := json.Unmarshal(b, &a); err != nil || code != http.StatusOK {
		t.Fatalf("HTTP %d: %.300s", code, b)
	}
	return a
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// engine compiles rules under testutil.Policy.
func engine(t *testing.T, rules string) func() *policy.Engine {
	t.Helper()
	doc, err := policy.Parse([]byte(testutil.Policy(testutil.NewKey(t).PEM, rules)))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Compile(doc, registry.MustNew())
	if err != nil {
		t.Fatal(err)
	}
	return func() *policy.Engine { return eng }
}

// TestBodyAllocatedAsItArrives: 400 requests declaring 7 MiB bodies and
// sending 1 KiB of them hold about what they sent, not what they declared
// (before: 7 MiB each, allocated before a byte arrived).
func TestBodyAllocatedAsItArrives(t *testing.T) {
	rv := admission.NewReviewer(engine(t, `- {pattern: "**", validator: allow}`), nil, admission.Options{}, nil, nil)
	h := rv.Handler(true)
	const n = 400
	base := heapInUse()
	var writers []*io.PipeWriter
	var wg sync.WaitGroup
	for range n {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		req := httptest.NewRequest(http.MethodPost, "/mutate", pr)
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = admission.MaxBodyBytes
		wg.Go(func() { h.ServeHTTP(httptest.NewRecorder(), req) })
		if _, err := pw.Write([]byte(strings.Repeat(" ", 1<<10))); err != nil {
			t.Fatal(err)
		}
	}
	held := int64(heapInUse()) - int64(base)
	for _, pw := range writers {
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	wg.Wait()
	t.Logf("%d requests declaring %d MiB each, 1 KiB sent: %.1f MiB of heap", n, admission.MaxBodyBytes/miB, float64(held)/miB)
	if held > 16*miB {
		t.Errorf("%.1f MiB of heap held, want under 16 MiB", float64(held)/miB)
	}
}

// TestBodyBudget: bodies beyond SmallBodyBytes draw on one budget. Twenty
// clients sending 7 MiB bodies (all but the last byte) hold at most
// MaxBufferedBodyBytes; those finding no room get 503 at their deadline,
// and a small request is answered meanwhile.
func TestBodyBudget(t *testing.T) {
	rv := admission.NewReviewer(engine(t, `- {pattern: "**", validator: allow}`), nil, admission.Options{}, nil, nil)
	h := rv.Handler(true)
	const n = 20
	base := heapInUse()
	big := make([]byte, admission.MaxBodyBytes-1)
	var writers []*io.PipeWriter
	codes := make(chan int, n)
	var sent sync.WaitGroup
	for range n {
		pr, pw := io.Pipe()
		writers = append(writers, pw)
		req := httptest.NewRequest(http.MethodPost, "/mutate?timeout=2s", pr)
		req.Header.Set("Content-Type", "application/json")
		go func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			pr.CloseWithError(io.ErrClosedPipe) // the server closes the connection
			codes <- rec.Code
		}()
		sent.Go(func() { pw.Write(big) }) // returns once read, or at the 503
	}
	time.Sleep(500 * time.Millisecond)
	held := int64(heapInUse()) - int64(base)

	code, out := post(t, h, "application/json", podReview("small", "Pod", []string{"registry.example/app:v1"}))
	if a := decodeAnswer(t, code, out); !a.Response.Allowed {
		t.Errorf("a small request was not admitted while the budget was taken: %+v", a.Response)
	}
	busy := 0
	for range n - admission.MaxBufferedBodyBytes/(8*miB) {
		if c := <-codes; c == http.StatusServiceUnavailable {
			busy++
		}
	}
	for _, pw := range writers {
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}
	sent.Wait()
	t.Logf("%d clients sending %d MiB bodies: %.1f MiB of heap, %d answered 503", n, admission.MaxBodyBytes/miB, float64(held)/miB, busy)
	if max := int64(admission.MaxBufferedBodyBytes + 8*miB); held > max {
		t.Errorf("%.1f MiB of heap held, want under %d MiB", float64(held)/miB, max/miB)
	}
	if busy == 0 {
		t.Error("no request was turned away with 503")
	}
}

// stalledRegistry accepts connections and never answers; it counts them.
func stalledRegistry(t *testing.T) (host string, conns *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int64)
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range open {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().String(), conns
}

// TestVerificationsBounded: a Pod of MaxImages distinct images against a
// registry that never answers starts Parallelism verifications, not one
// goroutine per image; requests together hold at most MaxVerifications;
// images that found no slot before the deadline are inconclusive and say
// why; an image a static rule decides is decided without a slot.
func TestVerificationsBounded(t *testing.T) {
	host, conns := stalledRegistry(t)
	eng := engine(t, `- {pattern: "`+host+`/**", validator: signed}
- {pattern: "static.example/**", validator: allow}`)
	const slots = 4
	rv := admission.NewReviewer(eng, nil, admission.Options{MaxVerifications: slots, Timeout: time.Second}, nil, nil)
	images := make([]string, workload.MaxImages)
	for i := range images {
		images[i] = fmt.Sprintf("%s/app%d:v1", host, i)
	}
	base := runtime.NumGoroutine()
	var peak atomic.Int64
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
				g := int64(runtime.NumGoroutine() - base)
				for p := peak.Load(); g > p && !peak.CompareAndSwap(p, g); p = peak.Load() {
				}
			}
		}
	}()
	var wg sync.WaitGroup
	answers := make([]answer, 3)
	for i := range answers {
		wg.Go(func() {
			code, out := post(t, rv.Handler(false), "application/json", podReview(fmt.Sprint(i), "Pod", images))
			answers[i] = decodeAnswer(t, code, out)
		})
	}
	wg.Wait()
	close(done)
	t.Logf("3 requests of %d images: %d registry connections, peak %d goroutines over the baseline", len(images), conns.Load(), peak.Load())
	// go-containerregistry pings a loopback registry over HTTPS and plain
	// HTTP at once: two connections per verification, and a slot freed as
	// the deadline passes may start one more before its request sees the
	// deadline. What matters is that connections follow the slots, not the
	// images: without the bound this is 3,000 and more.
	if c := conns.Load(); c > 4*slots {
		t.Errorf("%d registry connections, want at most %d (MaxVerifications, four each)", c, 4*slots)
	}
	// 3 requests × Parallelism workers, the stall detector, and the
	// registry connections' goroutines (a few per connection, some of them
	// net/http's, which come and go), with room for the runtime's own:
	// without the bound this is 3,000 and more.
	if p := peak.Load(); p > 3*admission.DefaultParallelism+4*slots+30 {
		t.Errorf("peak of %d goroutines over the baseline", p)
	}
	for _, a := range answers {
		if a.Response.Allowed || !strings.Contains(a.Response.Status.Message, "images at once, its limit") {
			t.Errorf("answer %.300s", a.Response.Status.Message)
		}
	}

	// With every slot taken, an image a static rule allows is allowed.
	code, out := post(t, rv.Handler(false), "application/json", podReview("static", "Pod", []string{"static.example/app:v1"}))
	if a := decodeAnswer(t, code, out); !a.Response.Allowed {
		t.Errorf("static image: %+v", a.Response)
	}
}

// TestTooManyImages: an object over workload.MaxImages is denied with a
// clear reason, whatever the mode, without a registry request.
func TestTooManyImages(t *testing.T) {
	t.Parallel()
	host, conns := stalledRegistry(t)
	for _, mode := range []string{"enforce", "warn", "audit"} {
		rv := admission.NewReviewer(engine(t, `- {pattern: "**", validator: signed, with: {mode: `+mode+`}}`), nil, admission.Options{}, nil, nil)
		images := make([]string, workload.MaxImages+1)
		for i := range images {
			images[i] = fmt.Sprintf("%s/app%d:v1", host, i)
		}
		code, out := post(t, rv.Handler(true), "application/json", podReview("many", "Pod", images))
		a := decodeAnswer(t, code, out)
		if a.Response.Allowed || !strings.Contains(a.Response.Status.Message, "more than 1000 images") {
			t.Errorf("%s: %+v", mode, a.Response)
		}
	}
	if c := conns.Load(); c != 0 {
		t.Errorf("%d registry connections", c)
	}
}

// TestReviewSlots: beyond MaxReviews, a request waits for a slot under its
// deadline, then is denied with the reason.
func TestReviewSlots(t *testing.T) {
	t.Parallel()
	host, _ := stalledRegistry(t)
	rv := admission.NewReviewer(engine(t, `- {pattern: "**", validator: signed}`), nil, admission.Options{MaxReviews: 1}, nil, nil)
	h := rv.Handler(true)
	review := func(uid, image, timeout string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/mutate?timeout="+timeout, strings.NewReader(string(podReview(uid, "Pod", []string{image}))))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	first := make(chan struct{})
	go func() { review("first", host+"/app:v1", "3s"); close(first) }() // holds the slot 2.4 s
	time.Sleep(200 * time.Millisecond)
	rec := review("second", "x.example/a:v1", "1s")
	<-first
	a := decodeAnswer(t, rec.Code, rec.Body.Bytes())
	if a.Response.UID != "second" || a.Response.Allowed || !strings.Contains(a.Response.Status.Message, "reviewing 1 admissions at once") {
		t.Errorf("%+v", a.Response)
	}
}

// TestAttackerStringsBounded: what a request chooses reaches labels, the
// answer and the decision log only bounded.
func TestAttackerStringsBounded(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	var log strings.Builder
	var logMu sync.Mutex
	dl := decisionlog.New(lockedWriter{&logMu, &log})
	rv := admission.NewReviewer(engine(t, `- {pattern: "warn.example/**", validator: deny, with: {mode: warn}}`), nil,
		admission.Options{Decisions: dl}, nil, m)
	h := rv.Handler(true)
	huge := strings.Repeat("K", 6*miB)
	for i := range 3 {
		if code, out := post(t, h, "application/json", podReview("u", fmt.Sprint(huge, i), []string{"x"})); code != http.StatusBadRequest || len(out) > admission.MaxMessageBytes+64 {
			t.Errorf("6 MiB kind: HTTP %d, %d bytes", code, len(out))
		}
		post(t, h, "application/json", podReview("u", fmt.Sprint("Kind", i), []string{"x"}))
	}
	code, out := post(t, h, "application/json", podReview("bad-ref", "Pod", []string{strings.Repeat("a", miB) + ":v1", "UPPER/" + huge[:miB]}))
	if a := decodeAnswer(t, code, out); a.Response.Allowed || len(a.Response.Status.Message) > admission.MaxMessageBytes+64 {
		t.Errorf("denial of %d bytes, want under %d", len(a.Response.Status.Message), admission.MaxMessageBytes)
	}
	warned := make([]string, 100)
	for i := range warned {
		warned[i] = fmt.Sprintf("warn.example/app%d:v1", i)
	}
	code, out = post(t, h, "application/json", podReview("warned", "Pod", warned))
	if a := decodeAnswer(t, code, out); !a.Response.Allowed || len(a.Response.Warnings) != admission.MaxWarnings ||
		!strings.Contains(a.Response.Warnings[admission.MaxWarnings-1], "81 more warnings") {
		t.Errorf("%d warnings, the last %q", len(a.Response.Warnings), a.Response.Warnings[len(a.Response.Warnings)-1])
	}
	dl.Flush()
	text := string(must(t, m))
	if strings.Contains(text, "KKKK") || !strings.Contains(text, `kind="other"`) {
		t.Errorf("kind label not bounded:\n%.2000s", text)
	}
	logMu.Lock()
	defer logMu.Unlock()
	for l := range strings.Lines(log.String()) {
		if len(l) > 64<<10 {
			t.Errorf("decision log line of %d bytes: %.200s", len(l), l)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// must returns the metrics text of m.
func must(t *testing.T, m *metrics.Metrics) []byte {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			fmt.Fprintf(&b, "%s{", mf.GetName())
			for _, l := range s.GetLabel() {
				fmt.Fprintf(&b, "%s=%q,", l.GetName(), l.GetValue())
			}
			b.WriteString("}\n")
		}
	}
	return []byte(b.String())
}

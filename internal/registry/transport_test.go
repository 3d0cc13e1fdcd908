package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faulty answers with the given statuses in turn (then 200), with an
// optional Retry-After, counting requests.
type faulty struct {
	statuses   []int
	retryAfter string
	n          atomic.Int32
}

func (f *faulty) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int(f.n.Add(1)) - 1
	if i < len(f.statuses) {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		w.WriteHeader(f.statuses[i])
		return
	}
	w.Write([]byte("ok"))
}

func TestEconomyRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		statuses   []int
		retryAfter string
		method     string
		deadline   time.Duration
		wantStatus int
		wantTries  int32
	}{
		{name: "5xx then success", statuses: []int{503, 502}, wantStatus: 200, wantTries: 3},
		{name: "gives up after MaxAttempts", statuses: []int{500, 500, 500, 500}, wantStatus: 500, wantTries: MaxAttempts},
		{name: "429 with Retry-After that fits", statuses: []int{429}, retryAfter: "0", wantStatus: 200, wantTries: 2},
		{name: "429 with Retry-After past the deadline", statuses: []int{429}, retryAfter: "5", deadline: time.Second, wantStatus: 429, wantTries: 1},
		{name: "404 is an answer", statuses: []int{404}, wantStatus: 404, wantTries: 1},
		{name: "401 is for the auth layer", statuses: []int{401}, wantStatus: 401, wantTries: 1},
		{name: "POST is never retried", statuses: []int{503}, method: http.MethodPost, wantStatus: 503, wantTries: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &faulty{statuses: tc.statuses, retryAfter: tc.retryAfter}
			srv := httptest.NewServer(f)
			defer srv.Close()
			e := newEconomy(http.DefaultTransport, nil)
			e.sleep = func(ctx context.Context, d time.Duration) error { return nil } // no real waiting
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			var body *strings.Reader
			req, _ := http.NewRequestWithContext(ctx, method, srv.URL+"/v2/", nil)
			if method == http.MethodPost {
				body = strings.NewReader("x")
				req, _ = http.NewRequestWithContext(ctx, method, srv.URL+"/v2/", body)
			}
			resp, err := e.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || f.n.Load() != tc.wantTries {
				t.Errorf("status %d after %d tries, want %d after %d", resp.StatusCode, f.n.Load(), tc.wantStatus, tc.wantTries)
			}
		})
	}
}

// TestEconomyBoundsConcurrency: no more than MaxPerHost requests are in
// flight to one registry, however many admissions need it.
func TestEconomyBoundsConcurrency(t *testing.T) {
	t.Parallel()
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
	}))
	defer srv.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxConnsPerHost = 0
	e := newEconomy(tr, nil)
	var wg sync.WaitGroup
	for range 3 * MaxPerHost {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v2/", nil)
			if resp, err := e.RoundTrip(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	for inFlight.Load() < MaxPerHost {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // would more get in?
	close(release)
	wg.Wait()
	if p := peak.Load(); p != MaxPerHost {
		t.Errorf("peak requests in flight = %d, want %d", p, MaxPerHost)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]time.Duration{"3": 3 * time.Second, "0": 0, "999": maxRetryAfter, "-4": 0} {
		if got, ok := retryAfter(v); !ok || got != want {
			t.Errorf("retryAfter(%q) = %v, %v; want %v", v, got, ok, want)
		}
	}
	if _, ok := retryAfter("soon"); ok {
		t.Error("retryAfter(soon) ok")
	}
	if d, ok := retryAfter(time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)); !ok || d <= 0 || d > 2*time.Second {
		t.Errorf("HTTP date: %v %v", d, ok)
	}
}

// TestEconomyForgetsHosts: a host's semaphore lives only while requests
// to it are in flight or waiting, so a million host names seen leave
// nothing behind.
func TestEconomyForgetsHosts(t *testing.T) {
	t.Parallel()
	e := newEconomy(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: r}, nil
	}), nil)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20000 {
				req, _ := http.NewRequest(http.MethodGet, "https://r"+strconv.Itoa(w*20000+i)+".example/v2/", nil)
				if _, err := e.RoundTrip(req); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	if n := len(e.sems); n != 0 {
		t.Errorf("%d host semaphores left after 160,000 hosts, want 0", n)
	}
}

package exhaustion_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/test/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}

const (
	miB = 1 << 20
	// maxRSS is the bound every attack must stay under.
	maxRSS = 300 * miB
	// probeTimeout is the ?timeout= of the ordinary admissions sent while
	// an attack runs: the chart's webhook timeout.
	probeTimeout = 10 * time.Second
	// bodyLimit is admission.MaxBodyBytes.
	bodyLimit = 7 << 20
)

// serve starts `signet serve` with a policy allowing static.example/**
// statically and verifying stalled/** against a registry that never
// answers (stall names its host).
func serve(t *testing.T) (s *harness.Serve, stall string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the signet binary")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads the process's memory from /proc")
	}
	stall = testutil.StalledServer(t)
	s = harness.StartServe(t, testutil.Policy(testutil.NewKey(t).PEM, `
- {pattern: "static.example/**", validator: allow}
- {pattern: "`+stall+`/**", validator: signed}`))
	return s, stall
}

// probe sends an ordinary admission (a statically allowed image) every
// 250 ms until stop is closed, and checks each is allowed within
// probeTimeout. It returns how many were answered and the slowest.
func probe(t *testing.T, s *harness.Serve, stop <-chan struct{}) func() (int, time.Duration) {
	var n atomic.Int64
	var slowest atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		c := s.Client(s.CertPEM, 1)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
			start := time.Now()
			a, err := s.Admit(context.Background(), c, "mutate", fmt.Sprintf("probe-%d", i), "static.example/app:v1", probeTimeout)
			took := time.Since(start)
			switch {
			case err != nil:
				t.Errorf("ordinary admission %d: %v", i, err)
			case a.Response == nil || !a.Response.Allowed:
				t.Errorf("ordinary admission %d: HTTP %d %.300s", i, a.Status, a.Body)
			case took > probeTimeout:
				t.Errorf("ordinary admission %d answered after %s, past its %s deadline", i, took, probeTimeout)
			}
			n.Add(1)
			for p := slowest.Load(); int64(took) > p && !slowest.CompareAndSwap(p, int64(took)); p = slowest.Load() {
			}
		}
	})
	return func() (int, time.Duration) {
		wg.Wait()
		return int(n.Load()), time.Duration(slowest.Load())
	}
}

// report logs the figures of an attack and checks the bounds: peak RSS
// under maxRSS, ordinary admissions answered meanwhile.
func report(t *testing.T, s *harness.Serve, what string, took time.Duration, probes func() (int, time.Duration)) {
	t.Helper()
	n, slowest := probes()
	rss, peak := s.Memory(t)
	t.Logf("%s: %s; peak RSS %.1f MiB (now %.1f MiB); %d ordinary admissions answered meanwhile, slowest in %s",
		what, took.Round(10*time.Millisecond), float64(peak)/miB, float64(rss)/miB, n, slowest.Round(time.Millisecond))
	if peak > maxRSS {
		t.Errorf("peak RSS %.1f MiB, want under %d MiB", float64(peak)/miB, maxRSS/miB)
	}
	if n == 0 {
		t.Error("no ordinary admission was answered during the attack")
	}
}

// post sends body to path and returns the status (0 when no answer came).
func post(c *http.Client, s *harness.Serve, path string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, "https://"+s.Addr+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// review is an AdmissionReview of kind whose object is spec.
func review(uid, kind, spec string) []byte {
	return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"` + uid +
		`","kind":{"group":"","version":"v1","kind":"` + kind + `"},"resource":{"group":"","version":"v1","resource":"pods"},` +
		`"namespace":"team","operation":"CREATE","userInfo":{"username":"attacker"},"object":{"apiVersion":"v1","kind":"Pod","spec":` + spec + `}}}`)
}

// parallel runs f(i) for i in [0, n) on workers goroutines.
func parallel(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				f(i)
			}
		})
	}
	wg.Wait()
}

// TestLabelFlood (class 5): 100 AdmissionReviews, each with a distinct
// 6 MiB request.kind.kind — ten times the review's attack — once became
// 100 series of signet_admission_requests_total and 600 MiB of labels and
// decision log; now each is rejected (HTTP 400) before its kind is used.
// 1,000 reviews with distinct short kinds all count as kind="other". The
// object's name and the username, which users do choose, are 256 KiB in
// every review: cut in the decision log.
func TestLabelFlood(t *testing.T) {
	s, _ := serve(t)
	stop := make(chan struct{})
	probes := probe(t, s, stop)
	const n = 100
	pad := strings.Repeat("K", 6*miB)
	start := time.Now()
	c := s.Client(s.CertPEM, 4)
	var rejected, answered atomic.Int64
	parallel(n, 4, func(i int) {
		if post(c, s, "/mutate", review(fmt.Sprint("label-", i), fmt.Sprintf("%s%05d", pad, i), `{"containers":[{"name":"a","image":"x"}]}`)) == http.StatusBadRequest {
			rejected.Add(1)
		}
	})
	name := strings.Repeat("n", 256<<10)
	parallel(10*n, 4, func(i int) {
		body := review(fmt.Sprint("short-", i), fmt.Sprintf("Kind%05d", i), `{"containers":[{"name":"a","image":"x"}]}`)
		body = bytes.Replace(body, []byte(`"namespace":"team"`), []byte(`"namespace":"team","name":"`+name+`"`), 1)
		body = bytes.Replace(body, []byte(`"username":"attacker"`), []byte(`"username":"`+name+`"`), 1)
		if post(c, s, "/mutate", body) == http.StatusOK {
			answered.Add(1)
		}
	})
	took := time.Since(start)
	close(stop)
	report(t, s, fmt.Sprintf("%d reviews with distinct 6 MiB kinds (%d rejected), %d with distinct short kinds and 256 KiB names (%d answered)",
		n, rejected.Load(), 10*n, answered.Load()), took, probes)
	if rejected.Load() != n || answered.Load() != 10*n {
		t.Errorf("%d of %d reviews rejected, %d of %d answered", rejected.Load(), n, answered.Load(), 10*n)
	}
	metrics := s.Metrics(t)
	if strings.Contains(metrics, "KKKK") || strings.Contains(metrics, "Kind0") || !strings.Contains(metrics, `kind="other"`) {
		t.Errorf("the kind label is not bounded (%d bytes of metrics)", len(metrics))
	}
	if l := len(s.Log.String()); l > 4*miB {
		t.Errorf("%d bytes of log for %d reviews", l, 11*n)
	}
	t.Logf("metrics %d KiB, log %d KiB", len(metrics)>>10, len(s.Log.String())>>10)
}

// dialTLS opens a TLS connection to s.
func dialTLS(t *testing.T, s *harness.Serve, protos ...string) *tls.Conn {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CertPEM)
	c, err := tls.Dial("tcp", s.Addr, &tls.Config{RootCAs: pool, NextProtos: protos, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("dialing signet: %v", err)
	}
	return c
}

// TestSlowClients (class 6): ten times the review's 40 idle connections
// (which held 280 MiB), each attack against its own process for 6 s, past
// the server's 5 s ReadTimeout: 400 connections declaring 7 MiB bodies and
// sending nothing; 400 trickling a byte every 100 ms; 400 HTTP/2 streams
// declaring 7 MiB and sending nothing; and 20 clients sending whole 7 MiB
// bodies back to back.
func TestSlowClients(t *testing.T) {
	head := fmt.Sprintf("POST /mutate HTTP/1.1\r\nHost: signet\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", bodyLimit)
	// slow opens n connections sending head, each then sending a byte
	// every trickle (never, when zero); it returns how many the server
	// closed while the attack ran.
	slow := func(t *testing.T, s *harness.Serve, n int, trickle time.Duration) func(stop <-chan struct{}) string {
		var wg sync.WaitGroup
		var closed atomic.Int64
		conns := make([]net.Conn, n)
		stop := make(chan struct{})
		for i := range conns {
			c := dialTLS(t, s, "http/1.1")
			conns[i] = c
			if _, err := io.WriteString(c, head); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				if trickle == 0 { // the server's answer, or its closing
					c.Read(make([]byte, 1))
					select {
					case <-stop:
					default:
						closed.Add(1)
					}
					return
				}
				for {
					select {
					case <-stop:
						return
					case <-time.After(trickle):
					}
					if _, err := c.Write([]byte(" ")); err != nil {
						closed.Add(1)
						return
					}
				}
			})
		}
		return func(done <-chan struct{}) string {
			<-done
			// ReadTimeout closes each 5 s after its headers; allow a loaded
			// machine some slack.
			for wait := time.Now().Add(3 * time.Second); closed.Load() < int64(n) && time.Now().Before(wait); {
				time.Sleep(50 * time.Millisecond)
			}
			close(stop)
			for _, c := range conns {
				c.Close()
			}
			wg.Wait()
			if closed.Load() != int64(n) {
				t.Errorf("%d of %d slow connections closed by signet, want all (ReadTimeout)", closed.Load(), n)
			}
			return fmt.Sprintf("%d of %d connections closed by signet", closed.Load(), n)
		}
	}
	tests := []struct {
		name   string
		attack func(t *testing.T, s *harness.Serve) func(stop <-chan struct{}) string
	}{
		{"400 connections declaring 7 MiB, sending nothing", func(t *testing.T, s *harness.Serve) func(<-chan struct{}) string {
			return slow(t, s, 400, 0)
		}},
		{"400 connections trickling a byte every 100 ms", func(t *testing.T, s *harness.Serve) func(<-chan struct{}) string {
			return slow(t, s, 400, 100*time.Millisecond)
		}},
		{"400 HTTP/2 streams declaring 7 MiB, sending nothing", func(t *testing.T, s *harness.Serve) func(<-chan struct{}) string {
			// 32 streams (the server's MaxConcurrentStreams) on each of 13
			// connections.
			var clients []*http.Client
			for range 13 {
				c := s.Client(s.CertPEM, 1)
				c.Transport.(*http.Transport).ForceAttemptHTTP2 = true
				c.Timeout = 0
				clients = append(clients, c)
			}
			var wg sync.WaitGroup
			var pipes []*io.PipeWriter
			var mu sync.Mutex
			answers := map[string]int{}
			for i := range 400 {
				c := clients[i/32]
				pr, pw := io.Pipe()
				pipes = append(pipes, pw)
				req, _ := http.NewRequest(http.MethodPost, "https://"+s.Addr+"/mutate", pr)
				req.ContentLength = bodyLimit
				req.Header.Set("Content-Type", "application/json")
				wg.Go(func() {
					resp, err := c.Do(req)
					a := "no answer"
					if err == nil {
						a = fmt.Sprintf("%s %d", resp.Proto, resp.StatusCode)
						resp.Body.Close()
					}
					mu.Lock()
					answers[a]++
					mu.Unlock()
				})
			}
			return func(done <-chan struct{}) string {
				<-done
				for _, pw := range pipes {
					pw.CloseWithError(io.ErrUnexpectedEOF)
				}
				wg.Wait()
				return fmt.Sprintf("answers %v", answers)
			}
		}},
		{"20 clients sending whole 7 MiB bodies", func(t *testing.T, s *harness.Serve) func(<-chan struct{}) string {
			full := bytes.Repeat([]byte(" "), bodyLimit) // not a review: 400 once read
			var wg sync.WaitGroup
			var read, busy atomic.Int64
			stop := make(chan struct{})
			for range 20 {
				wg.Go(func() {
					c := s.Client(s.CertPEM, 1)
					for {
						select {
						case <-stop:
							return
						default:
						}
						switch post(c, s, "/validate", full) {
						case http.StatusBadRequest:
							read.Add(1)
						case http.StatusServiceUnavailable:
							busy.Add(1)
						}
					}
				})
			}
			return func(done <-chan struct{}) string {
				<-done
				close(stop)
				wg.Wait()
				return fmt.Sprintf("%d bodies read, %d turned away with 503", read.Load(), busy.Load())
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := serve(t)
			stop := make(chan struct{})
			probes := probe(t, s, stop)
			start := time.Now()
			end := tc.attack(t, s)
			time.Sleep(6 * time.Second)
			close(stop)
			report(t, s, tc.name+": "+end(stop), time.Since(start), probes)
		})
	}
}

// TestImageFlood (class 7): Pods of 400,000 distinct images (the most a
// 7 MiB review holds at 18 bytes a container), sixteen at a time for 5 s,
// then ten Pods of 1,000 distinct images (the limit) whose registry never
// answers, at once. One Pod of 40,000 images once started 40,000
// goroutines (700+ MiB).
func TestImageFlood(t *testing.T) {
	s, stall := serve(t)
	var spec strings.Builder
	spec.WriteString(`{"containers":[`)
	const n = 400_000
	for i := range n {
		if i > 0 {
			spec.WriteByte(',')
		}
		fmt.Fprintf(&spec, `{"image":"%05x"}`, i)
	}
	spec.WriteString(`]}`)
	huge := review("huge", "Pod", spec.String())
	if len(huge) > bodyLimit {
		t.Fatalf("the review is %d bytes, over the body limit", len(huge))
	}

	stop := make(chan struct{})
	probes := probe(t, s, stop)
	start := time.Now()
	var denied, other atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			c := s.Client(s.CertPEM, 1)
			for time.Since(start) < 5*time.Second {
				a := admit(c, s, huge)
				if a != nil && !a.Allowed && strings.Contains(a.Message, "more than 1000 images") {
					denied.Add(1)
				} else {
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	hugeTook := time.Since(start)

	cs := make([]string, 1000)
	for i := range cs {
		cs[i] = fmt.Sprintf(`{"name":"c%d","image":"%s/app%d:v1"}`, i, stall, i)
	}
	limit := review("limit", "Pod", `{"containers":[`+strings.Join(cs, ",")+`]}`)
	var inconclusive atomic.Int64
	var goroutines atomic.Int64
	start2 := time.Now()
	for range 10 {
		wg.Go(func() {
			a := admit(s.Client(s.CertPEM, 1), s, limit)
			if a != nil && !a.Allowed && strings.Contains(a.Message, "deadline") {
				inconclusive.Add(1)
			}
		})
	}
	wg.Go(func() { // sample go_goroutines while they wait on the registry
		for time.Since(start2) < 6*time.Second {
			time.Sleep(500 * time.Millisecond)
			for line := range strings.Lines(s.Metrics(t)) {
				var g float64
				if _, err := fmt.Sscanf(line, "go_goroutines %g", &g); err == nil && int64(g) > goroutines.Load() {
					goroutines.Store(int64(g))
				}
			}
		}
	})
	wg.Wait()
	close(stop)
	report(t, s, fmt.Sprintf("%d reviews of %d images denied in %s (%d other answers); 10 reviews of 1,000 images of a stalled registry (%d inconclusive), peak %d goroutines",
		denied.Load(), n, hugeTook.Round(10*time.Millisecond), other.Load(), inconclusive.Load(), goroutines.Load()), time.Since(start), probes)
	if other.Load() != 0 || denied.Load() == 0 {
		t.Errorf("%d reviews of %d images denied for their size, %d answered otherwise", denied.Load(), n, other.Load())
	}
	if inconclusive.Load() != 10 {
		t.Errorf("%d of 10 reviews at the limit denied as inconclusive", inconclusive.Load())
	}
	if g := goroutines.Load(); g > 1000 {
		t.Errorf("peak of %d goroutines", g)
	}
}

// decision is what admit reads of an answer.
type decision struct {
	Allowed bool
	Message string
}

// admit posts a review with the API server's ?timeout= and decodes the
// answer; nil when there was none.
func admit(c *http.Client, s *harness.Serve, body []byte) *decision {
	req, _ := http.NewRequest(http.MethodPost, "https://"+s.Addr+"/mutate?timeout="+probeTimeout.String(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var ar struct {
		Response struct {
			Allowed bool `json:"allowed"`
			Status  struct {
				Message string `json:"message"`
			} `json:"status"`
		} `json:"response"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ar); err != nil {
		return nil
	}
	return &decision{ar.Response.Allowed, ar.Response.Status.Message}
}

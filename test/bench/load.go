package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// client sends AdmissionReviews to one signet over HTTPS/1.1 with
// keep-alive, the way wrk and h2load do: each connection writes a prepared
// request and reads the response with a minimal parser. net/http's client
// costs more CPU per request than the server under test, and on two shared
// cores that would measure the load generator, not signet.
type client struct {
	addr, path string
	tls        *tls.Config
	idle       chan *conn    // connections ready for a request
	slots      chan struct{} // one per connection open or being opened
	uid        atomic.Int64
}

type conn struct {
	tc   *tls.Conn
	r    *bufio.Reader
	req  []byte // reused request buffer
	body []byte // reused response body buffer
}

func newClient(addr string, certPEM []byte, conns int) *client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return &client{
		addr: addr, path: "/mutate?timeout=10s",
		tls:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, ServerName: "127.0.0.1"},
		idle:  make(chan *conn, conns),
		slots: make(chan struct{}, conns),
	}
}

// get returns an idle connection, a new one while fewer than the maximum
// are open, or waits for one to come back.
func (c *client) get(ctx context.Context) (*conn, error) {
	select {
	case cn := <-c.idle:
		return cn, nil
	default:
	}
	select {
	case cn := <-c.idle:
		return cn, nil
	case c.slots <- struct{}{}:
		d := tls.Dialer{Config: c.tls, NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
		nc, err := d.DialContext(ctx, "tcp", c.addr)
		if err != nil {
			<-c.slots
			return nil, err
		}
		return &conn{tc: nc.(*tls.Conn), r: bufio.NewReaderSize(nc, 16<<10)}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *client) drop(cn *conn) {
	cn.tc.Close()
	<-c.slots
}

// review is a Pod CREATE for image, as the API server sends it.
func (c *client) review(image string) []byte {
	uid := c.uid.Add(1)
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": fmt.Sprintf("bench-%d", uid), "kind": map[string]string{"group": "", "version": "v1", "kind": "Pod"},
			"resource":  map[string]string{"group": "", "version": "v1", "resource": "pods"},
			"namespace": "default", "name": "bench", "operation": "CREATE",
			"userInfo": map[string]string{"username": "bench"},
			"object": map[string]any{"apiVersion": "v1", "kind": "Pod",
				"metadata": map[string]string{"name": "bench", "namespace": "default"},
				"spec":     map[string]any{"containers": []any{map[string]string{"name": "app", "image": image}}}},
		},
	})
	return b
}

// admit sends one review and returns its latency and whether it was allowed.
func (c *client) admit(ctx context.Context, body []byte) (time.Duration, bool, error) {
	cn, err := c.get(ctx)
	if err != nil {
		return 0, false, err
	}
	cn.req = append(cn.req[:0], "POST "+c.path+" HTTP/1.1\r\nHost: "+c.addr+"\r\nContent-Type: application/json\r\nContent-Length: "...)
	cn.req = strconv.AppendInt(cn.req, int64(len(body)), 10)
	cn.req = append(cn.req, "\r\n\r\n"...)
	cn.req = append(cn.req, body...)
	start := time.Now()
	_ = cn.tc.SetDeadline(start.Add(15 * time.Second))
	if _, err := cn.tc.Write(cn.req); err != nil {
		c.drop(cn)
		return 0, false, err
	}
	status, err := cn.readResponse()
	el := time.Since(start)
	if err != nil {
		c.drop(cn)
		return el, false, err
	}
	c.idle <- cn
	if status != http.StatusOK {
		return el, false, fmt.Errorf("HTTP %d: %s", status, cn.body)
	}
	return el, bytes.Contains(cn.body, []byte(`"allowed":true`)), nil
}

// readResponse reads one HTTP/1.1 response with a Content-Length into
// cn.body and returns its status code.
func (cn *conn) readResponse() (int, error) {
	line, err := cn.r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	// "HTTP/1.1 200 OK\r\n"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length := -1
	for {
		h, err := cn.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(h, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			if length, err = strconv.Atoi(string(bytes.TrimSpace(v))); err != nil {
				return 0, fmt.Errorf("bad Content-Length %q", v)
			}
		}
	}
	if length < 0 {
		return 0, errors.New("response without Content-Length")
	}
	cn.body = slices.Grow(cn.body[:0], length)[:length]
	if _, err := io.ReadFull(cn.r, cn.body); err != nil {
		return 0, err
	}
	return status, nil
}

// stats summarises latencies.
type stats struct {
	n                  int
	errors, denied     int
	p50, p90, p99, max time.Duration
	elapsed            time.Duration
}

func (s stats) rate() float64 { return float64(s.n) / s.elapsed.Seconds() }

func summarise(lat []time.Duration, errors, denied int, elapsed time.Duration) stats {
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	s := stats{n: len(lat), errors: errors, denied: denied, elapsed: elapsed, p50: q(.50), p90: q(.90), p99: q(.99)}
	if len(lat) > 0 {
		s.max = lat[len(lat)-1]
	}
	return s
}

// collector gathers results from many goroutines.
type collector struct {
	mu             sync.Mutex
	lat            []time.Duration
	errors, denied int
	firstErr       error
}

func (c *collector) add(d time.Duration, allowed bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err != nil:
		c.errors++
		if c.firstErr == nil {
			c.firstErr = err
		}
	default:
		c.lat = append(c.lat, d)
		if !allowed {
			c.denied++
		}
	}
}

// fixedRate sends rate requests per second for dur, open loop: each
// request leaves on schedule whether or not earlier ones have returned, so
// a slow server shows up as latency, not as a lower rate.
func fixedRate(c *client, image string, rate int, dur time.Duration) (stats, error) {
	body := c.review(image)
	var col collector
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	total := int(dur.Seconds() * float64(rate))
	for i := range total {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Go(func() { col.add(c.admit(context.Background(), body)) })
	}
	wg.Wait()
	return summarise(col.lat, col.errors, col.denied, time.Since(start)), col.firstErr
}

// saturate runs workers closed-loop clients for dur.
func saturate(c *client, image string, workers int, dur time.Duration) (stats, error) {
	body := c.review(image)
	var col collector
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	start := time.Now()
	for range workers {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				d, ok, err := c.admit(context.Background(), body)
				if err != nil {
					col.add(d, ok, err)
					continue
				}
				lat = append(lat, d)
			}
			col.mu.Lock()
			col.lat = append(col.lat, lat...)
			col.mu.Unlock()
		})
	}
	wg.Wait()
	return summarise(col.lat, col.errors, col.denied, time.Since(start)), col.firstErr
}

// burst sends n admissions of image at once and waits for all.
func burst(c *client, image string, n int) (stats, error) {
	body := c.review(image)
	var col collector
	var wg sync.WaitGroup
	gate := make(chan struct{})
	start := time.Now()
	for range n {
		wg.Go(func() {
			<-gate
			col.add(c.admit(context.Background(), body))
		})
	}
	close(gate)
	wg.Wait()
	return summarise(col.lat, col.errors, col.denied, time.Since(start)), col.firstErr
}

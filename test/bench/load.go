package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// client sends AdmissionReviews to one signet over HTTPS with keep-alive.
type client struct {
	url  string
	http *http.Client
	uid  atomic.Int64
}

func newClient(addr string, certPEM []byte, conns int) *client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
	}
	return &client{url: "https://" + addr + "/mutate?timeout=10s", http: &http.Client{Transport: tr, Timeout: 15 * time.Second}}
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, false, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	el := time.Since(start)
	if err != nil {
		return el, false, err
	}
	if resp.StatusCode != http.StatusOK {
		return el, false, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	return el, bytes.Contains(b, []byte(`"allowed":true`)), nil
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

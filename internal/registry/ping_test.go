package registry_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

func pings(paths []string) int {
	n := 0
	for _, p := range paths {
		if p == "GET /v2/" {
			n++
		}
	}
	return n
}

func resolve(t *testing.T, c *registry.Client, ctx context.Context, ref string) error {
	t.Helper()
	r, err := imageref.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Resolve(ctx, r)
	return err
}

// TestPingOncePerRegistry resolves tags in ever new repositories of one
// registry: one /v2/ ping for all of them per credentials identity, not one
// per repository.
func TestPingOncePerRegistry(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	const repos = 5
	for i := range repos {
		reg.PushImage(t, fmt.Sprintf("ns%d/app:v1", i))
	}
	c := registry.MustNew(registry.WithKeychain(authn.NewMultiKeychain()), registry.WithInsecureRegistries(reg.Host))
	other := registry.ContextWithKeychain(context.Background(), registry.NewKeychain(authn.NewMultiKeychain()))
	for _, ctx := range []context.Context{context.Background(), other} {
		reg.Reset()
		for i := range repos {
			if err := resolve(t, c, ctx, fmt.Sprintf("%s/ns%d/app:v1", reg.Host, i)); err != nil {
				t.Fatal(err)
			}
		}
		// One ping for the credentials identity, then a HEAD per tag.
		if p, n := pings(reg.Paths()), reg.Requests(); p != 1 || n != repos+1 {
			t.Errorf("%d repositories: %d pings, %d requests (%v); want 1 ping, %d requests", repos, p, n, reg.Paths(), repos+1)
		}
	}
}

// TestPingMemoWithCredentials: over HTTPS with basic auth, the kept
// challenge drives authentication for later repositories (credentials sent,
// no ping), and a request without those credentials pings for itself.
func TestPingMemoWithCredentials(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	for _, r := range []string{"a", "b", "c"} {
		reg.PushImage(t, r+"/app:v1")
	}
	reg.RequireBasicAuth("alice", "s3cret")
	c := registry.MustNew(registry.WithKeychain(authn.NewMultiKeychain()), registry.WithCABundle(reg.CA))
	alice := registry.ContextWithKeychain(context.Background(), registry.NewKeychain(static{"alice", "s3cret"}))
	reg.Reset()
	for _, r := range []string{"a", "b", "c"} {
		if err := resolve(t, c, alice, reg.TLSHost+"/"+r+"/app:v1"); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
	}
	if p, a := pings(reg.Paths()), reg.Authorized(); p != 1 || a != 3 {
		t.Errorf("3 repositories with credentials: %d pings, %d requests with credentials (%v); want 1 and 3", p, a, reg.Paths())
	}
	reg.Reset()
	if err := resolve(t, c, context.Background(), reg.TLSHost+"/a/app:v1"); verify.Classify(err) != verify.Inconclusive {
		t.Fatalf("without credentials: %v, want inconclusive", err)
	}
	if p, a := pings(reg.Paths()), reg.Authorized(); p != 1 || a != 0 {
		t.Errorf("without credentials: %d pings, %d requests with credentials (%v); want its own ping and none", p, a, reg.Paths())
	}
}

// hostile is a registry answering /v2/ with answer and everything else
// with 404, counting its pings.
type hostile struct {
	host  string
	pings atomic.Int64
}

func newHostile(t *testing.T, answer func(w http.ResponseWriter)) *hostile {
	h := &hostile{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v2/" {
			h.pings.Add(1)
			answer(w)
			return
		}
		http.NotFound(w, req)
	}))
	t.Cleanup(srv.Close)
	h.host = strings.TrimPrefix(srv.URL, "http://")
	return h
}

// TestPingMemoNotPoisoned: what one registry answers to a ping is never
// used for another, a redirected ping is not kept, an oversized challenge
// is not kept, and a registry that asks for credentials on a later request
// is pinged afresh.
func TestPingMemoNotPoisoned(t *testing.T) {
	t.Parallel()
	good := testutil.NewRegistry(t, false)
	good.PushImage(t, "app:v1")
	tests := []struct {
		name   string
		answer func(good string) func(w http.ResponseWriter)
		// kept: the hostile registry's answer is remembered (pinged once
		// for two repositories).
		kept bool
	}{
		{"bearer challenge of another realm", func(string) func(http.ResponseWriter) {
			return func(w http.ResponseWriter) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="https://localhost:1/token",service="evil"`)
				w.WriteHeader(http.StatusUnauthorized)
			}
		}, true},
		{"redirect to the other registry's ping", func(good string) func(http.ResponseWriter) {
			return func(w http.ResponseWriter) {
				w.Header().Set("Location", "http://"+good+"/v2/")
				w.WriteHeader(http.StatusFound)
			}
		}, false},
		{"oversized challenge", func(string) func(http.ResponseWriter) {
			return func(w http.ResponseWriter) {
				w.Header().Set("WWW-Authenticate", `Basic realm="`+strings.Repeat("x", 2<<10)+`"`)
				w.WriteHeader(http.StatusUnauthorized)
			}
		}, false},
		{"not found", func(string) func(http.ResponseWriter) {
			return func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound) }
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			evil := newHostile(t, tc.answer(good.Host))
			c := registry.MustNew(registry.WithKeychain(authn.NewMultiKeychain()), registry.WithInsecureRegistries(good.Host, evil.host))
			var seen [2]int64
			for i := range 2 {
				if err := resolve(t, c, context.Background(), fmt.Sprintf("%s/r%d/app:v1", evil.host, i)); err == nil {
					t.Fatal("resolving on the hostile registry worked")
				}
				seen[i] = evil.pings.Load()
			}
			// Kept: the second repository is not pinged again.
			if again := seen[1] > seen[0]; again == tc.kept {
				t.Errorf("hostile registry pinged %d times for the first repository, %d for the second; want its answer kept: %v", seen[0], seen[1]-seen[0], tc.kept)
			}
			good.Reset()
			if err := resolve(t, c, context.Background(), good.Host+"/app:v1"); err != nil {
				t.Fatalf("the other registry after the hostile one: %v", err)
			}
			// Its own ping, its own (anonymous) answer.
			if p, a := pings(good.Paths()), good.Authorized(); p != 1 || a != 0 {
				t.Errorf("other registry: %d pings, %d requests with credentials (%v); want its own ping and none", p, a, good.Paths())
			}
		})
	}

	t.Run("credentials asked for later", func(t *testing.T) {
		reg := testutil.NewRegistry(t, false)
		reg.PushImage(t, "a/app:v1")
		reg.PushImage(t, "b/app:v1")
		reg.PushImage(t, "c/app:v1")
		c := registry.MustNew(registry.WithKeychain(authn.NewMultiKeychain()), registry.WithInsecureRegistries(reg.Host))
		if err := resolve(t, c, context.Background(), reg.Host+"/a/app:v1"); err != nil {
			t.Fatal(err)
		}
		reg.RequireBasicAuth("alice", "s3cret")
		reg.Reset()
		// The remembered answer (no authentication) is tried, the
		// registry refuses, the answer is dropped: the next repository
		// is pinged again and learns the challenge.
		for _, r := range []string{"b", "c"} {
			if err := resolve(t, c, context.Background(), reg.Host+"/"+r+"/app:v1"); verify.Classify(err) != verify.Inconclusive {
				t.Fatalf("%s: %v (%s), want inconclusive", r, err, verify.Classify(err))
			}
		}
		if p := pings(reg.Paths()); p != 1 {
			t.Errorf("%d pings after the registry asked for credentials (%v), want 1", p, reg.Paths())
		}
	})
}

// TestPingMemoBounded pings ever new registry hosts (one listener, reached
// at 127.0.x.y), each answering with the largest challenge kept, and
// measures the heap: once MaxPingAnswers are kept it must stop growing.
func TestPingMemoBounded(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("pings thousands of registry hosts and measures the heap (not under -short or -race)")
	}
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skip("cannot listen on every loopback address:", err)
	}
	challenge := `Basic realm="` + strings.Repeat("x", 1000) + `"`
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v2/" {
			w.Header().Set("WWW-Authenticate", challenge)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.NotFound(w, req)
	}))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	host := func(i int) string { return fmt.Sprintf("127.0.%d.%d:%s", 1+i/250, 1+i%250, port) }
	const total = 4 * registry.MaxPingAnswers
	hosts := make([]string, total)
	for i := range hosts {
		hosts[i] = host(i)
	}
	tr := registry.DefaultTransport()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1, 1 // connections to thousands of hosts are not what is measured
	c := registry.MustNew(registry.WithKeychain(authn.NewMultiKeychain()), registry.WithInsecureRegistries(hosts...), registry.WithTransport(tr))
	n := 0
	ping := func(count int) {
		for range count {
			if err := resolve(t, c, context.Background(), hosts[n]+"/app:v1"); verify.Classify(err) != verify.Failed {
				t.Fatalf("resolving on %s: %v", hosts[n], err)
			}
			n++
		}
	}
	heap := heapAfterGC
	const MiB = 1 << 20
	start := time.Now()
	// Warm up what is not the memo (the pullers fill up within
	// MaxReposPerPuller names), then fill the memo, then twice as many.
	ping(registry.MaxReposPerPuller)
	h0 := heap()
	ping(registry.MaxPingAnswers)
	h1 := heap()
	ping(total/2 - n)
	h2 := heap()
	ping(total - n)
	h3 := heap()
	t.Logf("%d hosts in %s; heap %.2f MiB, %.2f after %d more (the memo full: %.0f bytes an answer), %.2f after %d, %.2f after %d",
		n, time.Since(start).Round(time.Millisecond), float64(h0)/MiB, float64(h1)/MiB, registry.MaxPingAnswers, float64(h1-h0)/registry.MaxPingAnswers, float64(h2)/MiB, total/2, float64(h3)/MiB, total)
	// The memo full costs under 2 MiB (1,024 answers of at most 1 KiB of
	// challenge), and nothing grows after it is.
	if grown := h1 - h0; grown > 2*MiB {
		t.Errorf("memo of %d answers took %.1f MiB", registry.MaxPingAnswers, float64(grown)/MiB)
	}
	if grown := slices.Max([]int64{h2, h3}) - h1; grown > MiB/2 {
		t.Errorf("heap grew by %.2f MiB over %d more hosts after the memo was full", float64(grown)/MiB, n-registry.MaxPingAnswers-registry.MaxReposPerPuller)
	}
}

package cache_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/metrics"
)

// TestRedisBreaker: an unreachable Redis opens the breaker on the first
// failure; answers stay correct and later lookups skip Redis. (A real
// redis-server shared by two instances is tested in test/interop.)
func TestRedisBreaker(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	r, err := cache.NewRedis("redis://"+addr+"/0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var opened atomic.Int32
	r.Opened = func(error) { opened.Add(1) }
	m := metrics.New()
	c, err := cache.New(cache.Config{Redis: r, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	inner := newCounting(nil)
	v := c.Wrap(inner, "rule", "v")
	if !r.Available() {
		t.Fatal("breaker open before any call")
	}
	for i := range 3 {
		if _, err := v.Verify(context.Background(), img(t, "reg.example/app"+dig)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if r.Available() {
		t.Error("breaker still closed after Redis failed")
	}
	if n := opened.Load(); n != 1 {
		t.Errorf("Opened called %d times, want once per outage", n)
	}
	if n := inner.calls.Load(); n != 1 {
		t.Errorf("verifications = %d, want 1 (memory answers while Redis is down)", n)
	}
	// While the breaker is open, lookups skip Redis and are counted as
	// unavailable (the Redis breaker alert).
	for _, name := range []string{"other", "third"} {
		if _, err := v.Verify(context.Background(), img(t, "reg.example/"+name+dig)); err != nil {
			t.Fatal(err)
		}
	}
	if n := redisLookups(t, m, "unavailable"); n != 2 {
		t.Errorf("redis lookups counted unavailable: %v, want 2", n)
	}
	if _, err := cache.NewRedis("mysql://x", nil); err == nil {
		t.Error("bad Redis URL accepted")
	}
}

// redisLookups is signet_cache_lookups_total{layer="redis",result=result}.
func redisLookups(t *testing.T, m *metrics.Metrics, result string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "signet_cache_lookups_total" {
			continue
		}
		for _, s := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range s.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["layer"] == "redis" && l["result"] == result {
				return s.GetCounter().GetValue()
			}
		}
	}
	return 0
}

package cache_test

import (
	"context"
	"net"
	"testing"

	"github.com/signet-dev/signet/internal/cache"
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
	c, err := cache.New(cache.Config{Redis: r})
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
	if n := inner.calls.Load(); n != 1 {
		t.Errorf("verifications = %d, want 1 (memory answers while Redis is down)", n)
	}
	if _, err := cache.NewRedis("mysql://x", nil); err == nil {
		t.Error("bad Redis URL accepted")
	}
}

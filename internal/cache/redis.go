package cache

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis timings. Every call is bounded by CallTimeout; after a failure the
// breaker stays open for BreakerOpen, during which Redis is not called.
const (
	CallTimeout = 50 * time.Millisecond
	BreakerOpen = 5 * time.Second
)

// keyPrefix namespaces signet's keys in a shared Redis.
const keyPrefix = "signet:v1:"

// Redis is the shared layer: a go-redis client behind a circuit breaker.
type Redis struct {
	client *redis.Client
	log    *slog.Logger
	// openUntil is the UnixNano until which the breaker is open.
	openUntil atomic.Int64
	// failing is true between a failure and the next success, so each
	// outage is logged once.
	failing atomic.Bool
	// Opened, when set before first use, is told of each outage once, as
	// the breaker first opens; it is called on the caller's goroutine and
	// must not block (package alert's RedisBreakerOpen does not).
	Opened func(err error)
}

// NewRedis connects lazily to the Redis at url
// (redis://[user:password@]host:port/db, or rediss:// for TLS).
func NewRedis(url string, log *slog.Logger) (*Redis, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redis URL: %w", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = CallTimeout*4, CallTimeout, CallTimeout
	opts.MaxRetries = -1 // the breaker decides, not retries
	opts.ContextTimeoutEnabled = true
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Redis{client: redis.NewClient(opts), log: log}, nil
}

// Close closes the connections.
func (r *Redis) Close() error { return r.client.Close() }

func (r *Redis) open() bool { return time.Now().UnixNano() < r.openUntil.Load() }

func (r *Redis) fail(err error) {
	r.openUntil.Store(time.Now().Add(BreakerOpen).UnixNano())
	if !r.failing.Swap(true) {
		r.log.Warn("redis cache unavailable; answering from memory", "err", err.Error(), "retryIn", BreakerOpen.String())
		if r.Opened != nil {
			r.Opened(err)
		}
	}
}

func (r *Redis) ok() {
	if r.failing.Swap(false) {
		r.log.Info("redis cache available again")
	}
}

func (r *Redis) get(ctx context.Context, key string) ([]byte, bool) {
	if r.open() {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CallTimeout)
	defer cancel()
	b, err := r.client.Get(ctx, keyPrefix+key).Bytes()
	switch {
	case err == redis.Nil:
		r.ok()
		return nil, false
	case err != nil:
		r.fail(err)
		return nil, false
	}
	r.ok()
	return b, true
}

func (r *Redis) set(ctx context.Context, key string, val []byte, ttl time.Duration) {
	if r.open() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CallTimeout)
	defer cancel()
	if err := r.client.Set(ctx, keyPrefix+key, val, ttl).Err(); err != nil {
		r.fail(err)
		return
	}
	r.ok()
}

func (r *Redis) del(ctx context.Context, key string) {
	if r.open() {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CallTimeout)
	defer cancel()
	if err := r.client.Del(ctx, keyPrefix+key).Err(); err != nil {
		r.fail(err)
		return
	}
	r.ok()
}

// Available says whether the breaker lets calls through.
func (r *Redis) Available() bool { return !r.open() }

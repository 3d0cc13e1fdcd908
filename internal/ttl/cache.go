package ttl

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Cache is a map of at most size entries, least recently used first out,
// whose entries are fresh for a TTL after they were added. It is safe for
// concurrent use.
type Cache[K comparable, V any] struct {
	ttl time.Duration
	now func() time.Time

	mu  sync.Mutex
	lru *simplelru.LRU[K, entry[V]]
}

type entry[V any] struct {
	v       V
	expires time.Time
}

// NewCache returns a Cache of at most size entries (at least 1), fresh for
// ttl (never stale when ttl <= 0), aged by now (time.Now when nil).
func NewCache[K comparable, V any](size int, ttl time.Duration, now func() time.Time) *Cache[K, V] {
	if now == nil {
		now = time.Now
	}
	l, _ := simplelru.NewLRU[K, entry[V]](max(size, 1), nil) // fails only for a size < 1
	return &Cache[K, V]{ttl: ttl, now: now, lru: l}
}

// Get returns the value for k while it is fresh. A stale entry is removed.
func (c *Cache[K, V]) Get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(k)
	if ok && c.fresh(e) {
		return e.v, true
	}
	if ok {
		c.lru.Remove(k)
	}
	var zero V
	return zero, false
}

// Peek returns the value for k, fresh or stale, for callers that
// revalidate stale values; ok is false when there is none.
func (c *Cache[K, V]) Peek(k K) (v V, fresh, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Get(k)
	return e.v, ok && c.fresh(e), ok
}

// Add sets the value for k, fresh for the TTL from now, evicting the least
// recently used entry when the cache is full.
func (c *Cache[K, V]) Add(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Add(k, entry[V]{v: v, expires: c.now().Add(c.ttl)})
}

// Remove removes the entry for k.
func (c *Cache[K, V]) Remove(k K) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(k)
}

// Len returns the number of entries, stale ones included.
func (c *Cache[K, V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Keys returns the keys, oldest first.
func (c *Cache[K, V]) Keys() []K {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Keys()
}

// fresh says whether e is fresh now (c.mu held).
func (c *Cache[K, V]) fresh(e entry[V]) bool {
	return c.ttl <= 0 || c.now().Before(e.expires)
}

package cache

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/verify"
)

// Defaults.
const (
	DefaultSize      = 10000
	DefaultTTL       = 10 * time.Minute
	DefaultFailedTTL = 30 * time.Second
	DefaultTagTTL    = 30 * time.Second
)

// Config configures a Cache. Zero values take the defaults; a negative TTL
// disables that kind of entry.
type Config struct {
	// Size bounds the in-memory entries (verification results and tags,
	// each).
	Size int
	// TTL is how long a verified result is kept.
	TTL time.Duration
	// FailedTTL is how long a failed (definitive) result is kept.
	FailedTTL time.Duration
	// TagTTL is how long a tag → digest resolution is kept.
	TagTTL time.Duration
	// Redis, when set, is a shared second layer.
	Redis *Redis
	// Metrics records hits, misses and shared verifications.
	Metrics *metrics.Metrics
	// Now is the clock (tests).
	Now func() time.Time
}

// Entry is a cached verification result.
type Entry struct {
	Outcome verify.Outcome `json:"outcome"`
	Reason  string         `json:"reason,omitempty"`
	Result  *verify.Result `json:"result,omitempty"`
	Expires time.Time      `json:"expires"`
}

// Cache holds verification results and tag resolutions.
type Cache struct {
	cfg   Config
	mem   *lru.Cache[string, Entry]
	tags  *lru.Cache[string, tagEntry]
	group singleflight.Group
}

// New returns a Cache.
func New(cfg Config) (*Cache, error) {
	if cfg.Size == 0 {
		cfg.Size = DefaultSize
	}
	if cfg.Size < 0 {
		return nil, errors.New("cache size must be positive")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.TTL, DefaultTTL)
	def(&cfg.FailedTTL, DefaultFailedTTL)
	def(&cfg.TagTTL, DefaultTagTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	mem, err := lru.New[string, Entry](cfg.Size)
	if err != nil {
		return nil, err
	}
	tags, err := lru.New[string, tagEntry](cfg.Size)
	if err != nil {
		return nil, err
	}
	return &Cache{cfg: cfg, mem: mem, tags: tags}, nil
}

// keys are where one verification's result lives. A verified result is a
// fact about the signatures on a digest and is shared by every caller
// (shared); a failed result may depend on who asked (a registry that
// answers 404 to callers it hides an image from), so it is kept, and a
// verification in flight is joined, only under the caller's credentials
// (own).
type keys struct {
	shared, own string
}

// get returns the verified result anyone stored, else the failed result
// stored for the same credentials: memory first, then (verified results
// only) Redis.
func (c *Cache) get(ctx context.Context, k keys) (Entry, bool) {
	now := c.cfg.Now()
	maxAge, revalidating := revalidation(ctx)
	// stale says whether a verified entry is older than a re-verification
	// accepts (its age is known from its expiry: every verified entry is
	// stored for TTL).
	stale := func(e Entry) bool {
		return revalidating && e.Outcome == verify.Verified && (maxAge == 0 || now.Sub(e.Expires.Add(-c.cfg.TTL)) > maxAge)
	}
	for _, l := range []struct {
		key  string
		want verify.Outcome
	}{{k.shared, verify.Verified}, {k.own, verify.Failed}} {
		e, ok := c.mem.Get(l.key)
		switch {
		case !ok:
		case !now.Before(e.Expires):
			c.mem.Remove(l.key)
		case stale(e):
		case e.Outcome == l.want:
			c.cfg.Metrics.CacheLookup("memory", "hit")
			return e, true
		}
	}
	c.cfg.Metrics.CacheLookup("memory", "miss")
	if c.cfg.Redis == nil {
		return Entry{}, false
	}
	if !c.cfg.Redis.Available() {
		// The breaker is open: counted apart, so it can be alerted on.
		c.cfg.Metrics.CacheLookup("redis", "unavailable")
		return Entry{}, false
	}
	b, ok := c.cfg.Redis.get(ctx, k.shared)
	if !ok {
		c.cfg.Metrics.CacheLookup("redis", "miss")
		return Entry{}, false
	}
	var e Entry
	// Only verified results are shared through Redis (an older version
	// stored failed ones under the same key: they are ignored).
	if err := json.Unmarshal(b, &e); err != nil || !now.Before(e.Expires) || e.Outcome != verify.Verified || stale(e) {
		c.cfg.Metrics.CacheLookup("redis", "miss")
		return Entry{}, false
	}
	c.cfg.Metrics.CacheLookup("redis", "hit")
	c.mem.Add(k.shared, e)
	return e, true
}

// put stores a definitive result: a verified one for everyone (memory and
// Redis), a failed one for the same credentials only, in memory only
// (credential identities mean nothing to another replica). Inconclusive
// results are dropped.
func (c *Cache) put(ctx context.Context, k keys, res *verify.Result, err error) {
	e := Entry{Outcome: verify.Classify(err), Result: res}
	ttl, key := c.cfg.TTL, k.shared
	switch e.Outcome {
	case verify.Verified:
	case verify.Failed:
		ttl, key, e.Reason = c.cfg.FailedTTL, k.own, err.Error()
		if _, revalidating := revalidation(ctx); revalidating {
			// A re-verification found the image failing: its verified
			// result, anyone's, is withdrawn, so the next admission of
			// it verifies again.
			c.mem.Remove(k.shared)
			if c.cfg.Redis != nil {
				c.cfg.Redis.del(ctx, k.shared)
			}
		}
	default:
		return // inconclusive: never remembered
	}
	if ttl < 0 {
		return
	}
	e.Expires = c.cfg.Now().Add(ttl)
	c.mem.Add(key, e)
	if c.cfg.Redis != nil && e.Outcome == verify.Verified {
		if b, err := json.Marshal(e); err == nil {
			c.cfg.Redis.set(ctx, key, b, ttl)
		}
	}
}

type revalidateKey struct{}

// Revalidate returns a context under which cached verifiers (Wrap) do not
// answer from verified results stored more than maxAge ago (in memory or
// in Redis; 0: from none), and under which a definitive failure withdraws the image's
// verified result for every caller: what a re-verification of running
// images needs, so that an image whose signature was deleted is denied at
// its next admission instead of being admitted from the cache.
func Revalidate(ctx context.Context, maxAge time.Duration) context.Context {
	return context.WithValue(ctx, revalidateKey{}, max(maxAge, 0))
}

// revalidation returns Revalidate's maxAge, and whether ctx has one.
func revalidation(ctx context.Context) (time.Duration, bool) {
	d, ok := ctx.Value(revalidateKey{}).(time.Duration)
	return d, ok
}

// Len is the number of in-memory verification entries.
func (c *Cache) Len() int { return c.mem.Len() }

// Purge empties the in-memory layers.
func (c *Cache) Purge() {
	c.mem.Purge()
	c.tags.Purge()
}

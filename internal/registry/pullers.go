package registry

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	lru "github.com/hashicorp/golang-lru/v2"
)

// Bounds of the authenticated state kept for reuse. A go-containerregistry
// Puller keeps one authenticated transport (the ping's challenge, a bearer
// token) per repository it has read, forever; a long-lived Puller would
// grow with every repository name admission ever saw. signet keeps at
// most MaxPullers of them, each replaced by a fresh one once it has
// authenticated for MaxReposPerPuller repositories, or after pullerIdle
// unused: at most MaxPullers × MaxReposPerPuller repositories' state
// (plus those of requests still in flight on a replaced one).
const (
	// MaxPullers bounds the pullers kept: one for the Client's own
	// credentials and one per chain of context keychains (a namespace's
	// pull secrets, a validator's Secret).
	MaxPullers = 128
	// MaxReposPerPuller is how many repositories one puller
	// authenticates for before it is replaced.
	MaxReposPerPuller = 64
	// pullerIdle is how long a puller is kept unused.
	pullerIdle = 5 * time.Minute
)

// pullers caches go-containerregistry Pullers per chain of context
// keychains (none: the Client's own credentials) and set of insecure
// registries, so that the connections and tokens of one set of
// credentials are reused across admissions and never used for another's.
type pullers struct {
	mu  sync.Mutex
	lru *lru.Cache[string, *pullerEntry]
}

type pullerEntry struct {
	p    *remote.Puller
	used time.Time
	// repos counts the repositories the puller authenticated for (its
	// pings: go-containerregistry pings once per repository).
	repos *atomic.Int64
}

// pullerFor returns the Puller for requests made with ctx.
func (c *Client) pullerFor(ctx context.Context) *remote.Puller {
	chain := keychains(ctx)
	key := CredentialsID(ctx)
	if ins, _ := ctx.Value(insecureKey{}).(*Insecure); ins != nil {
		// go-containerregistry remembers per repository the scheme its
		// ping used: requests under another policy's insecureRegistries
		// (before and after a reload) must not share what it remembers.
		key += fmt.Sprintf("|%p", ins)
	}
	now := time.Now()
	c.pullers.mu.Lock()
	defer c.pullers.mu.Unlock()
	if e, ok := c.pullers.lru.Get(key); ok && now.Sub(e.used) <= pullerIdle && e.repos.Load() < MaxReposPerPuller {
		e.used = now
		return e.p
	}
	kcs := make([]authn.Keychain, 0, len(chain)+1)
	for _, kc := range chain {
		kcs = append(kcs, kc.Keychain)
	}
	kcs = append(kcs, c.keychain)
	repos := new(atomic.Int64)
	memo := pingMemo{inner: c.transport, memo: c.pings, creds: CredentialsID(ctx), plain: c.plain}
	p := c.newPuller(authn.NewMultiKeychain(kcs...), pingCounter{inner: memo, n: repos})
	c.pullers.lru.Add(key, &pullerEntry{p: p, used: now, repos: repos})
	return p
}

// pingCounter counts the /v2/ pings sent through it (answered from the
// memo or not: go-containerregistry keeps a transport per ping).
type pingCounter struct {
	inner http.RoundTripper
	n     *atomic.Int64
}

func (p pingCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Response == nil && classify(req.URL.Path) == classPing {
		p.n.Add(1)
	}
	return p.inner.RoundTrip(req)
}

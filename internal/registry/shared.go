package registry

import (
	"context"
	"sync"
)

// MaxShared bounds the answers one Shared context remembers. A verification
// asks for a handful (the .sig and .att manifests and the referrers list of
// one digest, under one or two credentials); lookups beyond the bound are
// made again rather than remembered.
const MaxShared = 32

// sharedKey is the context key of a *shared.
type sharedKey struct{}

// shared remembers registry answers for the life of one context.
type shared struct {
	mu      sync.Mutex
	entries map[string]*sharedEntry
}

type sharedEntry struct {
	done chan struct{}
	val  any
	err  error
}

// WithShared returns a context in which registry look-ups made through Shared
// are made once: the checks of one image (its signatures and each of its
// attestation requirements, which run concurrently) then share one
// referrers list and one manifest per tag instead of fetching them each.
// Answers are kept only as long as the context is used; they are keyed by
// what was fetched and the credentials the context carries, so a validator
// with credentials of its own never reads an answer fetched without them.
func WithShared(ctx context.Context) context.Context {
	if _, ok := ctx.Value(sharedKey{}).(*shared); ok {
		return ctx
	}
	return context.WithValue(ctx, sharedKey{}, &shared{entries: map[string]*sharedEntry{}})
}

// Shared returns what fetch returns, calling it once per key and
// credentials in a context made by WithShared (concurrent callers wait for
// the first), and every time elsewhere. A caller whose context ends while
// waiting gets its context's error.
func Shared[T any](ctx context.Context, key string, fetch func() (T, error)) (T, error) {
	s, ok := ctx.Value(sharedKey{}).(*shared)
	if !ok {
		return fetch()
	}
	key += "|c" + CredentialsID(ctx)
	s.mu.Lock()
	e, found := s.entries[key]
	if !found {
		if len(s.entries) >= MaxShared {
			s.mu.Unlock()
			return fetch()
		}
		e = &sharedEntry{done: make(chan struct{})}
		s.entries[key] = e
	}
	s.mu.Unlock()
	if !found {
		v, err := fetch()
		e.val, e.err = v, err
		close(e.done)
		return v, err
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
	v, _ := e.val.(T)
	return v, e.err
}

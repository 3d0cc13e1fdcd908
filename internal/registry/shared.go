package registry

import (
	"context"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Bounds on what one Shared context remembers. A verification asks for a
// handful of answers (the .att manifest, the referrers list and the
// referrer manifests of one digest, under one or two credentials); lookups
// beyond either bound are made again rather than remembered, so a registry
// answering with large lists holds no more memory than without sharing.
const (
	// MaxShared bounds the answers remembered.
	MaxShared = 32
	// MaxSharedBytes bounds their estimated size (Size).
	MaxSharedBytes = 4 << 20
)

// Size estimates the memory of a registry answer: descriptors and
// manifests by their fields, anything else as small.
func Size(v any) int64 {
	desc := func(d v1.Descriptor) int64 {
		n := int64(160 + len(d.MediaType) + len(d.ArtifactType) + len(d.URLs)*64)
		for k, v := range d.Annotations {
			n += int64(len(k) + len(v) + 32)
		}
		return n
	}
	var n int64 = 64
	switch x := v.(type) {
	case []v1.Descriptor:
		for _, d := range x {
			n += desc(d)
		}
	case *v1.Manifest:
		if x == nil {
			return n
		}
		n += desc(x.Config)
		for _, d := range x.Layers {
			n += desc(d)
		}
		for k, v := range x.Annotations {
			n += int64(len(k) + len(v) + 32)
		}
		if x.Subject != nil {
			n += desc(*x.Subject)
		}
	}
	return n
}

// sharedKey is the context key of a *shared.
type sharedKey struct{}

// shared remembers registry answers for the life of one context.
type shared struct {
	mu      sync.Mutex
	entries map[string]*sharedEntry
	bytes   int64 // Size of the answers kept
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
		if n := Size(v); err == nil {
			s.mu.Lock()
			if s.bytes+n > MaxSharedBytes {
				delete(s.entries, key) // those waiting have it; later callers fetch again
			} else {
				s.bytes += n
			}
			s.mu.Unlock()
		}
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

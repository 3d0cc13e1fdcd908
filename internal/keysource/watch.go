package keysource

import (
	"context"
	"log/slog"
	"slices"
	"time"
)

// Defaults of WatchOptions.
const (
	DefaultInterval     = 30 * time.Second
	DefaultMaxPerSecond = 5
)

// WatchOptions configure Watch.
type WatchOptions struct {
	// Interval is how often each key is resolved again (DefaultInterval
	// when <= 0).
	Interval time.Duration
	// MaxPerSecond bounds the resolutions per second, all keys together
	// (DefaultMaxPerSecond when <= 0): a KMS or the API server is not
	// flooded by a policy naming many keys, which then take longer than
	// Interval to go round.
	MaxPerSecond int
	// Changed, when set, is called with each key whose key changed (once
	// per reference and change), from Watch's goroutine.
	Changed func(*Source)
	// Log receives failures, at most one per key until it resolves again
	// (slog.Default() when nil). It names keys, never their material.
	Log *slog.Logger

	// wait pauses for d and reports false when ctx ended first (tests
	// replace it).
	wait func(ctx context.Context, d time.Duration) bool
}

// Watch calls Refresh on every Source sources returns, each reference
// once per opts.Interval, until ctx is done. The calls of a pass are
// spread over the interval, at least 1/MaxPerSecond of a second apart.
// sources is called at the start of each pass, so a policy that changed
// is followed. Sources sharing a reference (String) are resolved once: the
// others are given the key the first one resolved. opts.Changed is called
// for each reference whose key changed (see Refresh: not on a first
// resolution).
//
// Watch keeps nothing per key between passes but whether its last Refresh
// failed (so each failure is logged once until the key resolves again),
// for the keys sources still returns.
func Watch(ctx context.Context, sources func() []*Source, opts WatchOptions) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.MaxPerSecond <= 0 {
		opts.MaxPerSecond = DefaultMaxPerSecond
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.wait == nil {
		opts.wait = sleep
	}
	failing := map[string]bool{} // by reference
	for ctx.Err() == nil {
		groups := byRef(sources())
		for ref := range failing {
			if _, ok := groups.index[ref]; !ok {
				delete(failing, ref)
			}
		}
		if len(groups.refs) == 0 {
			if !opts.wait(ctx, opts.Interval) {
				return
			}
			continue
		}
		gap := max(opts.Interval/time.Duration(len(groups.refs)), time.Second/time.Duration(opts.MaxPerSecond))
		for _, ref := range groups.refs {
			refresh(ctx, groups.sources[groups.index[ref]], failing, opts)
			if !opts.wait(ctx, gap) {
				return
			}
		}
	}
}

// refresh resolves one reference's key through its first Source and gives
// it to the others.
func refresh(ctx context.Context, srcs []*Source, failing map[string]bool, opts WatchOptions) {
	first := srcs[0]
	ref := first.String()
	changed, err := first.Refresh(ctx)
	if err != nil {
		if ctx.Err() == nil && !failing[ref] {
			failing[ref] = true
			opts.Log.Warn("key could not be resolved again; the key in use is kept until it expires", "key", ref, "error", err)
		}
		return
	}
	if failing[ref] {
		delete(failing, ref)
		opts.Log.Info("key resolved again", "key", ref)
	}
	for _, s := range srcs[1:] {
		if s.adopt(first) {
			changed = true
		}
	}
	if changed && opts.Changed != nil {
		opts.Changed(first)
	}
}

// grouped are Sources by reference, in the order first seen.
type grouped struct {
	refs    []string
	index   map[string]int
	sources [][]*Source
}

func byRef(srcs []*Source) grouped {
	g := grouped{index: map[string]int{}}
	for _, s := range srcs {
		if s == nil {
			continue
		}
		ref := s.String()
		i, ok := g.index[ref]
		if !ok {
			i = len(g.refs)
			g.index[ref] = i
			g.refs = append(g.refs, ref)
			g.sources = append(g.sources, nil)
		}
		if !slices.Contains(g.sources[i], s) {
			g.sources[i] = append(g.sources[i], s)
		}
	}
	return g
}

// sleep pauses for d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

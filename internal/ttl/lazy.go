package ttl

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// LazyOptions configure a Lazy.
type LazyOptions[T any] struct {
	// Refresh is how long after a successful resolution the value is
	// resolved again. Required.
	Refresh time.Duration
	// MaxAge is how long after a successful resolution the value may still
	// be served while resolving it again fails or is under way. At most
	// Refresh (the default) means never: callers wait for the new value.
	MaxAge time.Duration
	// RetryAfter is how long a failed resolution is remembered: until then
	// callers get its error at once instead of starting another.
	RetryAfter time.Duration
	// Timeout bounds one resolution (none when <= 0).
	Timeout time.Duration
	// Expiry, when set, gives a value's own expiry (zero: none): it is
	// resolved again at half its remaining validity if that comes before
	// Refresh, and never served past its expiry.
	Expiry func(T) time.Time
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Fresh, when set, is the resolution Refresh runs instead of resolve:
	// one that bypasses whatever caches resolve reads through.
	Fresh func(ctx context.Context) (T, error)
}

// Lazy is a value resolved on first use, in the background, shared by
// every caller. It is safe for concurrent use.
type Lazy[T any] struct {
	resolve func(ctx context.Context) (T, error)
	opts    LazyOptions[T]

	mu       sync.Mutex
	val      T
	has      bool      // val was resolved once
	resolved time.Time // the last successful resolution
	expires  time.Time // val's own expiry (opts.Expiry), zero when none
	err      error     // the last resolution's error, nil after a success
	failed   time.Time
	inflight chan struct{} // closed when the running resolution ends
	// seq numbers the resolutions as they start (background ones and
	// Refresh); valSeq and errSeq are those of val and err. A resolution
	// that ends after a later one never replaces the later one's outcome.
	seq, valSeq, errSeq uint64
}

// NewLazy returns a Lazy resolving with resolve. Nothing runs before the
// first Get.
func NewLazy[T any](resolve func(ctx context.Context) (T, error), opts LazyOptions[T]) *Lazy[T] {
	if opts.MaxAge < opts.Refresh {
		opts.MaxAge = opts.Refresh
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Lazy[T]{resolve: resolve, opts: opts}
}

// PendingError is Get's error when the caller's context ended before a
// resolution it waited for; the resolution goes on and serves later calls.
type PendingError struct{ Err error }

func (e *PendingError) Error() string { return "not resolved yet: " + e.Err.Error() }
func (e *PendingError) Unwrap() error { return e.Err }

// StaleError is Get's error when the value resolved last is past its
// maximum age (or its own expiry) and no resolution since succeeded; Err is
// the last resolution's error.
type StaleError struct {
	Resolved, StaleAt time.Time
	Err               error
}

func (e *StaleError) Error() string {
	s := fmt.Sprintf("resolved %s, too old since %s", e.Resolved.UTC().Format(time.RFC3339), e.StaleAt.UTC().Format(time.RFC3339))
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}
func (e *StaleError) Unwrap() error { return e.Err }

// Get returns the value, resolving it when it is missing or due for a
// refresh. While a value not yet too old is refreshed, Get serves it and
// does not wait. Otherwise it waits for the resolution no longer than ctx
// allows (then *PendingError). A failure is returned as resolve returned
// it when no value was ever resolved, else as *StaleError.
func (l *Lazy[T]) Get(ctx context.Context) (T, error) {
	l.mu.Lock()
	now := l.opts.Now()
	usable := l.usable(now)
	if usable && now.Before(l.refreshAt()) {
		v := l.val
		l.mu.Unlock()
		return v, nil
	}
	if l.inflight == nil && (l.err == nil || now.Sub(l.failed) >= l.opts.RetryAfter) {
		l.inflight = make(chan struct{})
		l.seq++
		go l.run(l.inflight, l.seq)
	}
	done, v := l.inflight, l.val
	if usable || done == nil {
		// Refreshing, or waiting to retry: serve the value while it is
		// fresh enough, else the last failure.
		err := l.unusable()
		l.mu.Unlock()
		if usable {
			return v, nil
		}
		var zero T
		return zero, err
	}
	l.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		var zero T
		return zero, &PendingError{Err: ctx.Err()}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.usable(l.opts.Now()) {
		return l.val, nil
	}
	var zero T
	return zero, l.unusable()
}

// Wait waits for the resolution under way, if any, to end.
func (l *Lazy[T]) Wait() {
	l.mu.Lock()
	done := l.inflight
	l.mu.Unlock()
	if done != nil {
		<-done
	}
}

// usable says whether the value may be served at now (l.mu held).
func (l *Lazy[T]) usable(now time.Time) bool {
	return l.has && now.Before(l.staleAt())
}

// staleAt is when the value may no longer be served (l.mu held).
func (l *Lazy[T]) staleAt() time.Time {
	t := l.resolved.Add(l.opts.MaxAge)
	if !l.expires.IsZero() && l.expires.Before(t) {
		t = l.expires
	}
	return t
}

// refreshAt is when the value is resolved again (l.mu held).
func (l *Lazy[T]) refreshAt() time.Time {
	t := l.resolved.Add(l.opts.Refresh)
	if !l.expires.IsZero() {
		if half := l.resolved.Add(l.expires.Sub(l.resolved) / 2); half.Before(t) {
			t = half
		}
	}
	return t
}

// unusable explains why there is no value to serve (l.mu held).
func (l *Lazy[T]) unusable() error {
	if !l.has {
		return l.err
	}
	return &StaleError{Resolved: l.resolved, StaleAt: l.staleAt(), Err: l.err}
}

func (l *Lazy[T]) run(done chan struct{}, seq uint64) {
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if l.opts.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, l.opts.Timeout)
	}
	defer cancel()
	v, err := l.call(ctx, l.resolve)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.store(seq, v, err)
	l.inflight = nil
	close(done)
}

// store records the outcome of resolution seq unless a later resolution's
// outcome is already recorded (l.mu held).
func (l *Lazy[T]) store(seq uint64, v T, err error) {
	if seq <= l.valSeq {
		return
	}
	if err != nil {
		if seq > l.errSeq {
			l.err, l.failed, l.errSeq = err, l.opts.Now(), seq
		}
		return
	}
	l.val, l.has, l.resolved, l.valSeq = v, true, l.opts.Now(), seq
	if seq > l.errSeq {
		l.err = nil
	}
	l.expires = time.Time{}
	if l.opts.Expiry != nil {
		l.expires = l.opts.Expiry(v)
	}
}

// Refresh resolves the value now, within ctx (and the Timeout), with
// LazyOptions.Fresh when set, and puts it in use when the resolution
// succeeds: callers of Get see it at once, and the refresh interval starts
// again. A resolution under way in the background is not waited for, and
// its outcome, when it ends later, does not replace this one's. A failure
// leaves the value in use as it was (served until its maximum age, as when
// a background refresh fails), is remembered like one, and is returned as
// resolve returned it.
func (l *Lazy[T]) Refresh(ctx context.Context) (T, error) {
	l.mu.Lock()
	l.seq++
	seq := l.seq
	l.mu.Unlock()
	if l.opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.opts.Timeout)
		defer cancel()
	}
	resolve := l.resolve
	if l.opts.Fresh != nil {
		resolve = l.opts.Fresh
	}
	v, err := l.call(ctx, resolve)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.store(seq, v, err)
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// Peek returns the value resolved last, whatever its age, without
// resolving anything; ok is false when none was ever resolved.
func (l *Lazy[T]) Peek() (v T, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.val, l.has
}

// Set puts v in use as if a resolution had just returned it: for a value
// resolved elsewhere (another Lazy of the same source).
func (l *Lazy[T]) Set(v T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	l.store(l.seq, v, nil)
}

// call runs resolve; a panic is a failure, not a crash of the process.
func (l *Lazy[T]) call(ctx context.Context, resolve func(context.Context) (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("resolution panicked: %v", r)
		}
	}()
	return resolve(ctx)
}

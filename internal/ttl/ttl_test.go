package ttl

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestCache(t *testing.T) {
	t.Parallel()
	type step struct {
		advance   time.Duration
		add       string // key added with value "v-"+key
		get       string
		want      bool // Get finds it
		peekFresh bool // Peek's fresh, when Peek finds it
		peek      bool // Peek finds it (checked before Get)
	}
	tests := []struct {
		name  string
		size  int
		ttl   time.Duration
		steps []step
	}{
		{"fresh within the TTL", 4, time.Minute, []step{
			{add: "a", get: "a", want: true, peek: true, peekFresh: true},
			{advance: 59 * time.Second, get: "a", want: true, peek: true, peekFresh: true},
		}},
		{"stale after the TTL: Peek sees it, Get removes it", 4, time.Minute, []step{
			{add: "a"},
			{advance: time.Minute, get: "a", want: false, peek: true, peekFresh: false},
			{get: "a", want: false, peek: false},
		}},
		{"Add refreshes", 4, time.Minute, []step{
			{add: "a"},
			{advance: 50 * time.Second, add: "a"},
			{advance: 50 * time.Second, get: "a", want: true, peek: true, peekFresh: true},
		}},
		{"least recently used first out", 2, time.Minute, []step{
			{add: "a"}, {add: "b"},
			{get: "a", want: true, peek: true, peekFresh: true}, // a is now the most recent
			{add: "c"},
			{get: "b", want: false},
			{get: "a", want: true, peek: true, peekFresh: true},
		}},
		{"no TTL: never stale", 2, 0, []step{
			{add: "a"},
			{advance: 1000 * time.Hour, get: "a", want: true, peek: true, peekFresh: true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{now: time.Unix(1e9, 0)}
			c := NewCache[string, string](tc.size, tc.ttl, clk.Now)
			for i, s := range tc.steps {
				clk.add(s.advance)
				if s.add != "" {
					c.Add(s.add, "v-"+s.add)
				}
				if s.get == "" {
					continue
				}
				v, fresh, ok := c.Peek(s.get)
				if ok != s.peek || (ok && (fresh != s.peekFresh || v != "v-"+s.get)) {
					t.Errorf("step %d: Peek(%s) = %q, fresh %v, %v; want found %v, fresh %v", i, s.get, v, fresh, ok, s.peek, s.peekFresh)
				}
				if v, ok := c.Get(s.get); ok != s.want || (ok && v != "v-"+s.get) {
					t.Errorf("step %d: Get(%s) = %q, %v; want found %v", i, s.get, v, ok, s.want)
				}
			}
			if c.Len() > max(tc.size, 1) {
				t.Errorf("%d entries, bound %d", c.Len(), tc.size)
			}
		})
	}
}

// TestCacheBounded: a cache filled with ever new keys keeps its size, and
// the heap stops growing once it is full.
func TestCacheBounded(t *testing.T) {
	const size = 1024
	c := NewCache[string, []byte](size, time.Minute, nil)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	fill := func(from, to int) {
		for i := from; i < to; i++ {
			c.Add(fmt.Sprint("key-", i), make([]byte, 1024))
		}
	}
	fill(0, size)
	full := heap()
	fill(size, 20*size)
	if c.Len() != size {
		t.Errorf("%d entries, want %d", c.Len(), size)
	}
	if after := heap(); after > full+1<<20 {
		t.Errorf("heap grew from %d to %d bytes after the bound was reached", full, after)
	}
}

type resolver struct {
	calls   atomic.Int32
	release chan struct{} // when set, resolutions wait for it
	mu      sync.Mutex
	val     int
	err     error
	expires time.Time
}

type value struct {
	n       int
	expires time.Time
}

func (r *resolver) resolve(ctx context.Context) (value, error) {
	r.calls.Add(1)
	if r.release != nil {
		select {
		case <-r.release:
		case <-ctx.Done():
			return value{}, ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return value{r.val, r.expires}, r.err
}

func (r *resolver) set(val int, err error) {
	r.mu.Lock()
	r.val, r.err = val, err
	r.mu.Unlock()
}

// TestLazy walks a Lazy through time: resolution on first use, reuse,
// refresh, failures remembered for RetryAfter, stale values served up to
// MaxAge or the value's own expiry, never beyond.
func TestLazy(t *testing.T) {
	t.Parallel()
	errDown := errors.New("down")
	type step struct {
		at    time.Duration
		val   int   // what the source gives now
		err   error // what the source fails with now
		want  int
		fails string // "": Get succeeds; "err", "stale"
		calls int32  // resolutions so far
	}
	tests := []struct {
		name    string
		opts    LazyOptions[value]
		expires time.Duration // the value's own expiry after the start, 0: none
		steps   []step
	}{
		{"refresh, no stale values", LazyOptions[value]{Refresh: time.Minute, RetryAfter: 10 * time.Second}, 0, []step{
			{at: 0, val: 1, want: 1, calls: 1},
			{at: 30 * time.Second, val: 2, want: 1, calls: 1},
			{at: time.Minute, val: 2, want: 2, calls: 2},
			{at: 2 * time.Minute, err: errDown, fails: "stale", calls: 3},
			{at: 2*time.Minute + 5*time.Second, val: 3, fails: "stale", calls: 3}, // failure remembered
			{at: 2*time.Minute + 10*time.Second, val: 3, want: 3, calls: 4},
		}},
		{"first failure returned as is", LazyOptions[value]{Refresh: time.Minute, RetryAfter: 10 * time.Second}, 0, []step{
			{at: 0, err: errDown, fails: "err", calls: 1},
			{at: 9 * time.Second, val: 1, fails: "err", calls: 1},
			{at: 10 * time.Second, val: 1, want: 1, calls: 2},
		}},
		{"stale value served up to MaxAge", LazyOptions[value]{Refresh: time.Hour, MaxAge: 3 * time.Hour, RetryAfter: time.Minute}, 0, []step{
			{at: 0, val: 1, want: 1, calls: 1},
			{at: time.Hour, err: errDown, want: 1, calls: 2}, // refresh fails in the background
			{at: 3*time.Hour - time.Minute, err: errDown, want: 1, calls: 3},
			{at: 3 * time.Hour, err: errDown, fails: "stale", calls: 4},
			{at: 3*time.Hour + time.Minute, val: 2, want: 2, calls: 5},
		}},
		{"own expiry first: refresh at half, never past it", LazyOptions[value]{Refresh: 24 * time.Hour, MaxAge: 7 * 24 * time.Hour, RetryAfter: time.Minute}, 4 * time.Hour, []step{
			{at: 0, val: 1, want: 1, calls: 1},
			{at: 2*time.Hour - time.Second, val: 1, want: 1, calls: 1},
			{at: 2 * time.Hour, err: errDown, want: 1, calls: 2},
			{at: 4 * time.Hour, err: errDown, fails: "stale", calls: 3},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			t0 := time.Unix(1e9, 0)
			clk := &clock{now: t0}
			r := &resolver{}
			if tc.expires > 0 {
				r.expires = t0.Add(tc.expires)
			}
			tc.opts.Now = clk.Now
			tc.opts.Expiry = func(v value) time.Time { return v.expires }
			l := NewLazy(r.resolve, tc.opts)
			for i, s := range tc.steps {
				clk.mu.Lock()
				clk.now = t0.Add(s.at)
				clk.mu.Unlock()
				r.set(s.val, s.err)
				v, err := l.Get(context.Background())
				l.Wait()
				var stale *StaleError
				switch s.fails {
				case "":
					if err != nil || v.n != s.want {
						t.Errorf("step %d (+%s): %v, %v; want %d", i, s.at, v.n, err, s.want)
					}
				case "err":
					if !errors.Is(err, errDown) || errors.As(err, &stale) {
						t.Errorf("step %d (+%s): %v; want the source's error", i, s.at, err)
					}
				case "stale":
					if !errors.As(err, &stale) {
						t.Errorf("step %d (+%s): %v, %v; want a *StaleError", i, s.at, v.n, err)
					}
				}
				if n := r.calls.Load(); n != s.calls {
					t.Errorf("step %d (+%s): %d resolutions, want %d", i, s.at, n, s.calls)
				}
			}
		})
	}
}

// TestLazyDeadline: a caller returns at its own deadline with a
// *PendingError while the resolution goes on in the background; the value
// it finds then serves the next caller without another resolution.
func TestLazyDeadline(t *testing.T) {
	t.Parallel()
	r := &resolver{release: make(chan struct{}), val: 7}
	l := NewLazy(r.resolve, LazyOptions[value]{Refresh: time.Minute, RetryAfter: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := l.Get(ctx)
	var pending *PendingError
	if !errors.As(err, &pending) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get past its deadline: %v; want a *PendingError", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("Get returned after %s, its deadline was 50ms", waited)
	}
	close(r.release) // the resolution, still running, finishes now
	l.Wait()
	if v, err := l.Get(context.Background()); err != nil || v.n != 7 {
		t.Errorf("after the background resolution: %v, %v; want 7", v.n, err)
	}
	if n := r.calls.Load(); n != 1 {
		t.Errorf("%d resolutions, want 1: the background one serves later calls", n)
	}
}

// TestLazyConcurrent (run under -race): many callers share one resolution.
func TestLazyConcurrent(t *testing.T) {
	t.Parallel()
	r := &resolver{release: make(chan struct{}), val: 3}
	l := NewLazy(r.resolve, LazyOptions[value]{Refresh: time.Minute, RetryAfter: time.Second, Timeout: time.Minute})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := l.Get(context.Background())
			if err == nil && v.n != 3 {
				err = fmt.Errorf("got %d", v.n)
			}
			errs <- err
		}()
	}
	time.Sleep(10 * time.Millisecond)
	close(r.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := r.calls.Load(); n != 1 {
		t.Errorf("%d resolutions for 64 concurrent callers, want 1", n)
	}
}

// TestLazyPanic: a resolution that panics is a failure, not a crash.
func TestLazyPanic(t *testing.T) {
	t.Parallel()
	l := NewLazy(func(context.Context) (int, error) { panic("boom") }, LazyOptions[int]{Refresh: time.Minute})
	if _, err := l.Get(context.Background()); err == nil {
		t.Error("no error from a resolution that panicked")
	}
}

// TestLazyRefresh: Refresh resolves at once, puts the value in use and
// restarts the refresh interval; a failure keeps the value in use; Fresh,
// when set, is what Refresh runs.
func TestLazyRefresh(t *testing.T) {
	t.Parallel()
	errDown := errors.New("down")
	type step struct {
		at      time.Duration
		val     int
		err     error
		refresh bool // Refresh, then Get; else Get only
		want    int  // Get's value
		wantErr bool // Refresh fails
		calls   int32
		fresh   int32 // Fresh resolutions so far
	}
	tests := []struct {
		name  string
		fresh bool // set LazyOptions.Fresh
		steps []step
	}{
		{"before the first Get", false, []step{
			{at: 0, val: 1, refresh: true, want: 1, calls: 1},
			{at: 30 * time.Second, val: 2, want: 1, calls: 1},
		}},
		{"within the refresh interval, which starts again", false, []step{
			{at: 0, val: 1, want: 1, calls: 1},
			{at: 30 * time.Second, val: 2, refresh: true, want: 2, calls: 2},
			{at: time.Minute, val: 3, want: 2, calls: 2},
			{at: 90 * time.Second, val: 3, want: 3, calls: 3},
		}},
		{"a failure keeps the value in use", false, []step{
			{at: 0, val: 1, want: 1, calls: 1},
			{at: 30 * time.Second, err: errDown, refresh: true, wantErr: true, want: 1, calls: 2},
			{at: 50 * time.Second, val: 2, refresh: true, want: 2, calls: 3},
		}},
		{"Fresh instead of resolve", true, []step{
			{at: 0, val: 1, want: 1, calls: 1},
			{at: time.Second, val: 2, refresh: true, want: 2, calls: 1, fresh: 1},
			{at: 2 * time.Second, val: 3, refresh: true, want: 3, calls: 1, fresh: 2},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			t0 := time.Unix(1e9, 0)
			clk := &clock{now: t0}
			r, f := &resolver{}, &resolver{}
			opts := LazyOptions[value]{Refresh: time.Minute, RetryAfter: 10 * time.Second, Now: clk.Now}
			if tc.fresh {
				opts.Fresh = func(ctx context.Context) (value, error) {
					r.mu.Lock()
					f.val, f.err = r.val, r.err
					r.mu.Unlock()
					return f.resolve(ctx)
				}
			}
			l := NewLazy(r.resolve, opts)
			for i, s := range tc.steps {
				clk.mu.Lock()
				clk.now = t0.Add(s.at)
				clk.mu.Unlock()
				r.set(s.val, s.err)
				if s.refresh {
					v, err := l.Refresh(context.Background())
					switch {
					case s.wantErr && !errors.Is(err, errDown):
						t.Errorf("step %d: Refresh() error %v, want %v", i, err, errDown)
					case !s.wantErr && (err != nil || v.n != s.val):
						t.Errorf("step %d: Refresh() = %d, %v; want %d", i, v.n, err, s.val)
					}
				}
				v, err := l.Get(context.Background())
				l.Wait()
				if err != nil || v.n != s.want {
					t.Errorf("step %d: Get() = %d, %v; want %d", i, v.n, err, s.want)
				}
				if n := r.calls.Load(); n != s.calls {
					t.Errorf("step %d: %d resolutions, want %d", i, n, s.calls)
				}
				if n := f.calls.Load(); n != s.fresh {
					t.Errorf("step %d: %d fresh resolutions, want %d", i, n, s.fresh)
				}
			}
		})
	}
}

// TestLazyRefreshOutlivesBackground: a background resolution that started
// before a Refresh and ends after it does not put its older value back.
func TestLazyRefreshOutlivesBackground(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	calls := 0
	var mu sync.Mutex
	resolve := func(ctx context.Context) (int, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n == 1 {
			close(started)
			<-release // the background resolution reads the old value
			return 1, nil
		}
		return 2, nil
	}
	l := NewLazy(resolve, LazyOptions[int]{Refresh: time.Minute})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Get(ctx); err == nil {
		t.Fatal("Get with a done context returned no error while the resolution is blocked")
	}
	<-started
	if v, err := l.Refresh(context.Background()); err != nil || v != 2 {
		t.Fatalf("Refresh() = %d, %v; want 2", v, err)
	}
	close(release)
	l.Wait()
	if v, err := l.Get(context.Background()); err != nil || v != 2 {
		t.Errorf("Get() after the older resolution ended = %d, %v; want 2", v, err)
	}
}

// TestLazyPeekSet: Peek reads without resolving; Set puts a value in use.
func TestLazyPeekSet(t *testing.T) {
	t.Parallel()
	r := &resolver{val: 1}
	l := NewLazy(r.resolve, LazyOptions[value]{Refresh: time.Minute})
	if _, ok := l.Peek(); ok {
		t.Error("Peek() found a value before any resolution")
	}
	l.Set(value{n: 5})
	if v, ok := l.Peek(); !ok || v.n != 5 {
		t.Errorf("Peek() = %d, %v; want 5", v.n, ok)
	}
	if v, err := l.Get(context.Background()); err != nil || v.n != 5 {
		t.Errorf("Get() = %d, %v; want 5", v.n, err)
	}
	if n := r.calls.Load(); n != 0 {
		t.Errorf("%d resolutions, want 0", n)
	}
}

// TestLazyRefreshConcurrent (run under -race): Refresh and Get from many
// goroutines; every Get sees a value some resolution returned.
func TestLazyRefreshConcurrent(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	l := NewLazy(func(context.Context) (int, error) { return int(n.Add(1)), nil }, LazyOptions[int]{Refresh: time.Millisecond, Timeout: time.Minute})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v int
			var err error
			if i%2 == 0 {
				v, err = l.Refresh(context.Background())
			} else {
				v, err = l.Get(context.Background())
			}
			if err == nil && v < 1 {
				err = fmt.Errorf("got %d", v)
			}
			errs <- err
		}()
	}
	wg.Wait()
	l.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if v, ok := l.Peek(); !ok || v < 1 || v > int(n.Load()) {
		t.Errorf("Peek() = %d, %v after %d resolutions", v, ok, n.Load())
	}
}

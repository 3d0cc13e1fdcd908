package registry

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestShared(t *testing.T) {
	t.Parallel()
	big := make([]v1.Descriptor, MaxSharedBytes/160+1) // over the byte bound alone
	small := []v1.Descriptor{{MediaType: "x"}}
	tests := []struct {
		name      string
		shared    bool
		answer    []v1.Descriptor
		calls     int // callers, one after another after the first wave
		wantFetch int64
	}{
		{"once per verification", true, small, 10, 1},
		{"every time without a shared context", false, small, 10, 10},
		{"not kept when over the byte bound", true, big, 10, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tc.shared {
				ctx = WithShared(ctx)
			}
			var fetches atomic.Int64
			for range tc.calls {
				got, err := Shared(ctx, "referrers x", func() ([]v1.Descriptor, error) { fetches.Add(1); return tc.answer, nil })
				if err != nil || len(got) != len(tc.answer) {
					t.Fatalf("got %d descriptors, %v", len(got), err)
				}
			}
			if n := fetches.Load(); n != tc.wantFetch {
				t.Errorf("%d fetches, want %d", n, tc.wantFetch)
			}
		})
	}
}

func TestSharedConcurrentAndBounded(t *testing.T) {
	t.Parallel()
	ctx := WithShared(context.Background())
	var fetches atomic.Int64
	started, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, _ = Shared(ctx, "k", func() (int, error) {
				if fetches.Add(1) == 1 {
					close(started)
				}
				<-release
				return 1, nil
			})
		})
	}
	<-started // the first caller is fetching; the others wait for it
	close(release)
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d concurrent fetches of one key, want 1", n)
	}
	// Past MaxShared keys, answers are fetched and not kept.
	for i := range MaxShared + 10 {
		_, _ = Shared(ctx, string(rune('a'+i)), func() (int, error) { return i, nil })
	}
	s := ctx.Value(sharedKey{}).(*shared)
	if len(s.entries) > MaxShared {
		t.Errorf("%d answers kept, want at most %d", len(s.entries), MaxShared)
	}
}

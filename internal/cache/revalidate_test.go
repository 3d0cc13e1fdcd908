package cache_test

import (
	"context"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/verify"
)

// TestRevalidate: a re-verification is not answered from a verified result
// older than its maxAge (younger ones are reused), and a failure it finds
// withdraws the verified result, so the next admission verifies again and
// is denied instead of being answered from the cache.
func TestRevalidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		age       time.Duration // of the verified entry when revalidating
		maxAge    time.Duration
		later     error // the signatures' state when revalidating
		wantCalls int32 // verifications after: admit, revalidate, admit again
		wantAfter verify.Outcome
	}{
		{name: "young entry reused", age: 10 * time.Second, maxAge: time.Minute, later: verify.Failf("signature deleted"), wantCalls: 1, wantAfter: verify.Verified},
		{name: "old entry verified again, still good", age: 2 * time.Minute, maxAge: time.Minute, wantCalls: 2, wantAfter: verify.Verified},
		{name: "old entry verified again, now failing, withdrawn", age: 2 * time.Minute, maxAge: time.Minute, later: verify.Failf("signature deleted"), wantCalls: 3, wantAfter: verify.Failed},
		{name: "zero maxAge always verifies", age: 0, maxAge: 0, later: verify.Failf("signature deleted"), wantCalls: 3, wantAfter: verify.Failed},
		{name: "inconclusive keeps the entry", age: 2 * time.Minute, maxAge: time.Minute, later: verify.Inconclusivef("registry down"), wantCalls: 2, wantAfter: verify.Verified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{now: time.Unix(1e9, 0)}
			c, err := cache.New(cache.Config{TTL: 10 * time.Minute, FailedTTL: time.Nanosecond, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			inner := newCounting(nil)
			v := c.Wrap(inner, "rule", "signed")
			im := img(t, "reg.example/app"+dig)
			if _, err := v.Verify(context.Background(), im); err != nil {
				t.Fatal(err)
			}
			clk.advance(tc.age)
			inner.set(tc.later)
			_, err = v.Verify(cache.Revalidate(context.Background(), tc.maxAge), im)
			if tc.age <= tc.maxAge && tc.maxAge > 0 && err != nil {
				t.Fatalf("revalidation of a young entry: %v, want the cached verified result", err)
			}
			clk.advance(time.Second) // past FailedTTL: a failure is not answered from the cache
			_, err = v.Verify(context.Background(), im)
			if got := verify.Classify(err); got != tc.wantAfter {
				t.Errorf("admission after revalidation: %s (%v), want %s", got, err, tc.wantAfter)
			}
			if n := inner.calls.Load(); n != tc.wantCalls {
				t.Errorf("verifications = %d, want %d", n, tc.wantCalls)
			}
		})
	}
}

package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestPoll: each error is reported once however many polls see it, and
// again after any poll without an error — whether or not that poll swapped
// anything in (a file put back unchanged, then broken again, must be
// logged and counted again).
func TestPoll(t *testing.T) {
	t.Parallel()
	errA, errB := errors.New("a"), errors.New("b")
	type step struct {
		swapped bool
		err     error
	}
	tests := []struct {
		name  string
		steps []step
		want  string // f: failed(err), s: swapped
	}{
		{name: "same error on every poll", steps: []step{{err: errA}, {err: errA}, {err: errA}}, want: "fa"},
		{name: "another error", steps: []step{{err: errA}, {err: errB}, {err: errB}}, want: "fa fb"},
		{name: "fixed by a swap, broken again", steps: []step{{err: errA}, {swapped: true}, {err: errA}}, want: "fa s fa"},
		{name: "put back unchanged, broken again", steps: []step{{err: errA}, {}, {err: errA}}, want: "fa fa"},
		{name: "swaps", steps: []step{{swapped: true}, {}, {swapped: true}}, want: "s s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var got []string
			i := 0
			reload := func() (bool, error) {
				if i == len(tc.steps) { // reported nothing; poll returns at its next wait
					cancel()
					return false, nil
				}
				i++
				return tc.steps[i-1].swapped, tc.steps[i-1].err
			}
			returned := make(chan struct{})
			go func() {
				defer close(returned)
				poll(ctx, time.Millisecond, reload, func(err error) { got = append(got, "f"+err.Error()) }, func() { got = append(got, "s") })
			}()
			<-returned
			if diff := cmp.Diff(tc.want, strings.Join(got, " ")); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
		})
	}
}

package workload_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/workload"
)

// TestDecodeResourceMemory reads the largest custom resource an
// AdmissionReview can carry (7 MiB) whose list a declared kind's images are
// found in holds hundreds of thousands of entries, and measures what
// DecodeResource allocates: a pod template's containers are counted while
// they are decoded, as a Deployment's are (under 1 MiB); an expression
// reads the object through an index of 8 bytes per JSON token and stops
// after attest.MaxObjectSteps members and elements walked (without that
// bound, an expression over 411,000 steps allocated 200 MiB).
func TestDecodeResourceMemory(t *testing.T) {
	tests := []struct {
		name     string
		template bool
		item     string
		err      string // the error DecodeResource ends with
		tooMany  bool
		maxMiB   uint64
	}{
		{name: "pod template of one-line containers", template: true, item: `{"image":"%x"}`, err: "more than 1000 images", tooMany: true, maxMiB: 1},
		{name: "steps with images", item: `{"image":"%x"}`, err: "more than 50000 steps", maxMiB: 32},
		{name: "empty steps", item: `{}`, err: "more than 50000 steps", maxMiB: 32},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if tc.template {
				b.WriteString(`{"spec":{"template":{"spec":{"containers":[`)
			} else {
				b.WriteString(`{"spec":{"steps":[`)
			}
			n := 0
			for ; b.Len() < 7<<20-64; n++ {
				if n > 0 {
					b.WriteByte(',')
				}
				if strings.Contains(tc.item, "%") {
					fmt.Fprintf(&b, tc.item, n)
				} else {
					b.WriteString(tc.item)
				}
			}
			if tc.template {
				b.WriteString(`]}}}}`)
			} else {
				b.WriteString(`]}}`)
			}
			raw := []byte(b.String())
			res := resource(t, nil, steps)
			if tc.template {
				res = resource(t, []string{"/spec/template"})
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := workload.DecodeResource(context.Background(), res, raw)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			runtime.GC()
			var left runtime.MemStats
			runtime.ReadMemStats(&left)
			t.Logf("%d entries in %d bytes: %d KiB allocated, %d KiB left on the heap; %v", n, len(raw), alloc>>10, (int64(left.HeapAlloc)-int64(before.HeapAlloc))>>10, err)
			if err == nil || !strings.Contains(err.Error(), tc.err) || errors.Is(err, workload.ErrTooManyImages) != tc.tooMany {
				t.Fatalf("error %v, want one saying %q", err, tc.err)
			}
			if alloc > tc.maxMiB<<20 {
				t.Errorf("reading the object allocated %d KiB, want under %d MiB", alloc>>10, tc.maxMiB)
			}
		})
	}
}

package manifest_test

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/manifest"
)

// TestParseMemory reads the largest inputs each bound lets through and
// measures the heap: what Parse allocates in all (an upper bound of what it
// holds at once) and what the parsed File keeps. A document is parsed
// alone, its nodes dropped before the next; the cost of the densest
// document the size bound lets in (a flow sequence of one-letter values,
// two bytes each) is what bounds the heap at once.
func TestParseMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds inputs of tens of MiB")
	}
	pod := "kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: registry.example/app:1}]}\n"
	for _, tc := range []struct {
		name     string
		data     func() string
		err      string // "" for none
		allocMiB uint64 // all that Parse allocates: its work
		peakMiB  uint64 // the most it holds at once
		keptMiB  int64  // what the File holds after it
	}{
		{"densest document", func() string {
			return "kind: ConfigMap\ndata: [" + strings.Repeat("a,", manifest.MaxDocumentBytes/2-20) + "a]\n"
		}, "", 500, 400, 1},
		{"densest file", func() string {
			doc := "---\nkind: ConfigMap\ndata: [" + strings.Repeat("a,", 1<<20-20) + "a]\n"
			return strings.Repeat(doc, manifest.MaxFileBytes/len(doc))
		}, "", 5 << 10, 400, 1},
		{"most documents", func() string { return strings.Repeat("---\n"+pod, manifest.MaxDocuments) }, "", 256, 64, 8},
		{"alias bomb", aliasBomb, "more than 8388608 bytes of JSON", 64, 48, 1},
		{"list of aliases", func() string {
			var b strings.Builder
			b.WriteString("kind: List\nx: &big {kind: ConfigMap, data: [" + strings.Repeat("a,", 1<<20) + "a]}\nitems: [")
			b.WriteString("&p {kind: Pod, spec: {containers: [{image: a}]}, d: *big}")
			for b.Len() < manifest.MaxDocumentBytes-64 {
				b.WriteString(", *p")
			}
			b.WriteString("]\n")
			return b.String()
		}, "more than 67108864 bytes of JSON", 400, 400, 1},
		{"deep nesting", func() string {
			return "kind: Pod\nspec: " + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + "\n"
		}, "nested more than 1000 deep", 64, 32, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := []byte(tc.data())
			var before, after, left runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			var f *manifest.File
			var err error
			peak := peakHeap(func() { f, err = manifest.Parse(context.Background(), "m.yaml", data, manifest.Options{}) }) - before.HeapAlloc
			runtime.ReadMemStats(&after)
			runtime.GC()
			runtime.ReadMemStats(&left)
			alloc := after.TotalAlloc - before.TotalAlloc
			kept := int64(left.HeapAlloc) - int64(before.HeapAlloc)
			n := 0
			if f != nil {
				n = len(f.Findings())
			}
			runtime.KeepAlive(f)
			t.Logf("%d bytes: %d images, %d MiB allocated, %d MiB at most at once, %d KiB kept; %v", len(data), n, alloc>>20, peak>>20, kept>>10, err)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if alloc > tc.allocMiB<<20 {
				t.Errorf("Parse allocated %d MiB, want under %d MiB", alloc>>20, tc.allocMiB)
			}
			if peak > tc.peakMiB<<20 {
				t.Errorf("Parse held %d MiB at once, want under %d MiB", peak>>20, tc.peakMiB)
			}
			if kept > tc.keptMiB<<20 {
				t.Errorf("the parsed file keeps %d KiB, want under %d MiB", kept>>10, tc.keptMiB)
			}
		})
	}
}

// peakHeap runs f and returns the largest live heap seen while it ran,
// sampled every millisecond (and at its end).
func peakHeap(f func()) uint64 {
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var m runtime.MemStats
		var peak uint64
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			select {
			case <-stop:
				done <- peak
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	return <-done
}

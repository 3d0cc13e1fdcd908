package workload

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// list returns n JSON objects made by item, comma-separated.
func list(n int, item func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = item(i)
	}
	return strings.Join(parts, ",")
}

func TestDecodeLimits(t *testing.T) {
	t.Parallel()
	ctr := func(i int) string { return fmt.Sprintf(`{"name":"c%d","image":"i%d"}`, i, i) }
	vol := func(i int) string { return fmt.Sprintf(`{"name":"v%d","image":{"reference":"i%d"}}`, i, i) }
	third := MaxImages / 3
	tests := []struct {
		name, kind, raw string
		has             string // "" when the object is within the limits
	}{
		{"MaxImages containers", "Pod", `{"spec":{"containers":[` + list(MaxImages, ctr) + `]}}`, ""},
		{"one container over", "Pod", `{"spec":{"containers":[` + list(MaxImages+1, ctr) + `]}}`, "the Pod has more than 1000 images"},
		{"over across sections", "Deployment", `{"spec":{"template":{"spec":{"containers":[` + list(third, ctr) + `],"initContainers":[` + list(third, ctr) +
			`],"ephemeralContainers":[` + list(MaxImages-2*third+1, ctr) + `]}}}}`, "the Deployment has more than 1000 images"},
		{"MaxImages containers and image volumes", "Pod", `{"spec":{"containers":[` + list(third, ctr) + `],"volumes":[` + list(MaxImages-third, vol) + `]}}`, ""},
		{"one image volume over", "Pod", `{"spec":{"volumes":[` + list(MaxImages+1, vol) + `]}}`, "the Pod has more than 1000 images"},
		{"image volumes over with containers", "CronJob", `{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"volumes":[` + list(third, vol) + `],"containers":[` +
			list(MaxImages-third+1, ctr) + `]}}}}}}`, "the CronJob has more than 1000 images"},
		{"image volumes without reference count", "Pod", `{"spec":{"volumes":[` + list(MaxImages+1, func(int) string { return `{"image":{}}` }) + `]}}`, "more than 1000 images"},
		{"other volumes do not count", "Pod", `{"spec":{"containers":[` + list(MaxImages, ctr) + `],"volumes":[` + list(4*MaxImages, func(i int) string { return fmt.Sprintf(`{"name":"v%d","emptyDir":{}}`, i) }) + `]}}`, ""},
		{"containers without image count", "Pod", `{"spec":{"containers":[` + list(MaxImages+1, func(int) string { return `{}` }) + `]}}`, "more than 1000 images"},
		{"MaxReferences pull secrets", "Pod", `{"spec":{"imagePullSecrets":[` + list(MaxReferences, func(i int) string { return fmt.Sprintf(`{"name":"s%d"}`, i) }) + `]}}`, ""},
		{"pull secrets over", "Pod", `{"spec":{"imagePullSecrets":[` + list(MaxReferences+1, func(int) string { return `{}` }) + `]}}`, "more than 1000 imagePullSecrets"},
		{"owner references over", "ReplicaSet", `{"metadata":{"ownerReferences":[` + list(MaxReferences+1, func(int) string { return `{}` }) + `]}}`, "more than 1000 ownerReferences"},
	}
	for _, tc := range tests {
		obj, err := Decode(tc.kind, []byte(tc.raw))
		switch {
		case tc.has == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.has == "":
			if len(obj.Images) > MaxImages {
				t.Errorf("%s: %d images", tc.name, len(obj.Images))
			}
		case !errors.Is(err, ErrTooManyImages) || !strings.Contains(err.Error(), tc.has):
			t.Errorf("%s: error %v, want ErrTooManyImages saying %q", tc.name, err, tc.has)
		}
	}
}

// TestDecodeLimitMemory decodes the largest Pod an AdmissionReview can
// carry (7 MiB: some 400,000 one-line containers or image volumes, or
// 2,000,000 empty volumes) and measures what the decoder allocates: it
// stops at the first image over MaxImages, and keeps no volume that is not
// an image volume. Decoding 400,000 containers whole allocated 224 MiB.
func TestDecodeLimitMemory(t *testing.T) {
	tests := []struct {
		name, list, item string
		over             bool // ErrTooManyImages
	}{
		{"containers", "containers", `{"image":"%x"}`, true},
		{"image volumes", "volumes", `{"image":{"reference":"%x"}}`, true},
		{"other volumes", "volumes", `{}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString(`{"spec":{"` + tc.list + `":[`)
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
			b.WriteString(`]}}`)
			raw := []byte(b.String())
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := Decode("Pod", raw)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d %s in %d bytes: %d KiB allocated", n, tc.list, len(raw), alloc>>10)
			switch {
			case tc.over && !errors.Is(err, ErrTooManyImages):
				t.Fatalf("error %v, want ErrTooManyImages", err)
			case !tc.over && err != nil:
				t.Fatal(err)
			}
			if alloc > 1<<20 {
				t.Errorf("decoding allocated %d KiB, want under 1 MiB", alloc>>10)
			}
		})
	}
}

package compose_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/signet-dev/signet/internal/compose"
)

// memoryCase is an input of TestLoadMemory.
type memoryCase struct {
	name   string
	files  map[string]string
	err    string // "" when the load succeeds
	maxMiB uint64
}

// TestLoadMemory loads the largest inputs an attacker-controlled Compose
// file (with the .env file beside it and the files its extends name) can
// be, and measures what Load allocates: each bound (MaxFileSize,
// MaxTotalSize, MaxServices, MaxExtendsNodes, MaxInterpolation) stops the
// work before it grows, and what the bounds let through allocates under
// 256 MiB (compose-go's loader costs some 200 KiB per service; without
// MaxExtendsNodes, 1,000 services extending a file of 1,000 allocated
// 1 GiB from 124 KB of YAML).
func TestLoadMemory(t *testing.T) {
	tag := strings.Repeat("t", 1<<10)
	doubling := func(n int) string { // A0=1 KiB, A1=${A0}${A0}, …: 2^n KiB
		var b strings.Builder
		fmt.Fprintf(&b, "A0=%s\n", tag)
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, "A%d=${A%d}${A%d}\n", i, i-1, i-1)
		}
		return b.String()
	}
	services := func(n int, image string) string {
		var b strings.Builder
		b.WriteString("services:\n")
		for i := range n {
			fmt.Fprintf(&b, "  s%d:\n    image: %s\n    labels: {a: \"%s\"}\n", i, image, strings.Repeat("l", 960))
		}
		return b.String()
	}
	laughs := func() string { // YAML aliases, each level nine times the last
		var b strings.Builder
		b.WriteString("x-a0: &a0 [" + strings.Repeat("x,", 8) + "x]\n")
		for i := 1; i <= 9; i++ {
			fmt.Fprintf(&b, "x-a%d: &a%d [%s*a%d]\n", i, i, strings.Repeat(fmt.Sprintf("*a%d,", i-1), 8), i-1)
		}
		b.WriteString("services:\n  s:\n    image: app:1\n    command: *a9\n")
		return b.String()
	}
	// extended: the Compose file's services each extend a service of its
	// own file, of nearly MaxFileSize each: the fifth passes MaxTotalSize.
	extended := map[string]string{}
	var c strings.Builder
	c.WriteString("services:\n")
	for i := range 6 {
		fmt.Fprintf(&c, "  s%d:\n    extends: {file: base%d.yaml, service: b}\n", i, i)
		extended[fmt.Sprintf("base%d.yaml", i)] = "services:\n  b:\n    image: app:1\n    labels: {a: \"" + strings.Repeat("l", compose.MaxFileSize-64) + "\"}\n"
	}
	extended["compose.yaml"] = c.String()
	within := map[string]string{"compose.yaml": "services:\n"}
	for i := range 3 {
		within["compose.yaml"] += fmt.Sprintf("  s%d:\n    extends: {file: base%d.yaml, service: b}\n", i, i)
		within[fmt.Sprintf("base%d.yaml", i)] = extended["base0.yaml"]
	}
	// quadratic: MaxServices services, each extending one of
	// MaxServices services of another file (compose-go copies the file's
	// services for each).
	quadratic := map[string]string{}
	var q, qb strings.Builder
	q.WriteString("services:\n")
	qb.WriteString("services:\n")
	for i := range compose.MaxServices {
		fmt.Fprintf(&q, "  s%d:\n    extends: {file: base.yaml, service: b%d}\n", i, i)
		fmt.Fprintf(&qb, "  b%d:\n    image: app:%d\n    environment: {A: a, B: b, C: c, D: d}\n", i, i)
	}
	quadratic["compose.yaml"], quadratic["base.yaml"] = q.String(), qb.String()
	// underQuadratic: the same against a file of services of 14 nodes each,
	// as many as keep the copies just under MaxExtendsNodes.
	under := (compose.MaxExtendsNodes/compose.MaxServices - 1) / 14
	var u, ub strings.Builder
	u.WriteString("services:\n")
	ub.WriteString("services:\n")
	for i := range compose.MaxServices {
		fmt.Fprintf(&u, "  s%d:\n    extends: {file: base.yaml, service: b%d}\n", i, i%under)
	}
	for i := range under {
		fmt.Fprintf(&ub, "  b%d:\n    image: app:%d\n    environment: {A: a, B: b, C: c, D: d}\n", i, i)
	}
	underQuadratic := map[string]string{"compose.yaml": u.String(), "base.yaml": ub.String()}
	// chain: each service extends the next, the last writes the image.
	var ch strings.Builder
	ch.WriteString("services:\n")
	for i := range compose.MaxServices - 1 {
		fmt.Fprintf(&ch, "  s%d: {extends: s%d}\n", i, i+1)
	}
	fmt.Fprintf(&ch, "  s%d: {image: app:1}\n", compose.MaxServices-1)
	tests := []memoryCase{
		{name: "MaxServices services extending as many", files: quadratic, err: "YAML nodes of other files", maxMiB: 64},
		{name: "MaxServices services extending a file just under MaxExtendsNodes", files: underQuadratic, maxMiB: 256},
		{name: "a chain of MaxServices extends", files: map[string]string{"compose.yaml": ch.String()}, maxMiB: 256},
		{name: "extends files up to MaxTotalSize", files: within, maxMiB: 256},
		{name: "extends files over MaxTotalSize", files: extended, err: "together", maxMiB: 400},
		{name: "MaxServices services, 1 KiB each", files: map[string]string{"compose.yaml": services(compose.MaxServices, "registry.example/app:${TAG:-1}")}, maxMiB: 256},
		{name: "one service more", files: map[string]string{"compose.yaml": services(compose.MaxServices+1, "app:1")}, err: "more than 1000", maxMiB: 64},
		{name: "one service more, in a later document", files: map[string]string{"compose.yaml": services(compose.MaxServices, "app:1") + "---\nservices: {x: {image: app:1}}\n"}, err: "more than 1000", maxMiB: 64},
		{name: "a file over MaxFileSize", files: map[string]string{"compose.yaml": services(1, "app:1") + "x-pad: \"" + strings.Repeat("p", compose.MaxFileSize) + "\"\n"}, err: "more than the", maxMiB: 1},
		{name: ".env doubling 40 times", files: map[string]string{"compose.yaml": services(1, "app:${A40}"), ".env": doubling(40)}, err: "variables expand to more than", maxMiB: 64},
		{name: "interpolation of a 1 MiB variable 1000 times", files: map[string]string{"compose.yaml": services(1000, "app:${A10}"), ".env": doubling(10)}, err: "variables expand to more than", maxMiB: 256},
		{name: "a billion laughs", files: map[string]string{"compose.yaml": laughs()}, err: "aliasing", maxMiB: 64},
		{name: "extends /dev/zero", files: map[string]string{"compose.yaml": "services:\n  a:\n    extends: {file: /dev/zero, service: b}\n"}, err: "not a regular file", maxMiB: 1},
	}
	tests = append(tests, memoryCase{name: "extends a FIFO", files: map[string]string{"compose.yaml": "services:\n  a:\n    extends: {file: fifo, service: b}\n"}, err: "not a regular file", maxMiB: 1})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			if tc.name == "extends a FIFO" {
				if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
					t.Skip(err)
				}
			}
			name := filepath.Join(dir, "compose.yaml")
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err = compose.Load(name, data, compose.Options{})
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes: %d KiB allocated, %d KiB heap in use; %v", len(data), alloc>>10, after.HeapInuse>>10, firstLine(err))
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("error %v, want %q", firstLine(err), tc.err)
			}
			if alloc > tc.maxMiB<<20 {
				t.Errorf("Load allocated %d KiB, want under %d MiB", alloc>>10, tc.maxMiB)
			}
		})
	}
}

func firstLine(err error) string {
	if err == nil {
		return "<nil>"
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

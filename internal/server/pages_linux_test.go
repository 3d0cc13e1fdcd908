//go:build linux

package server

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReleaseStartupPages: the executable's read-only mappings are advised
// out, resident file-backed memory drops, and the program keeps running
// (code paged out comes back on use).
func TestReleaseStartupPages(t *testing.T) {
	before := rssFile(t)
	n, err := releaseStartupPages()
	if errors.Is(err, unix.EINVAL) {
		t.Skip("kernel without MADV_PAGEOUT (Linux < 5.4)")
	}
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no mapping of the executable was advised")
	}
	after := rssFile(t)
	t.Logf("advised %d MiB; RssFile %d -> %d KiB", n>>20, before, after)
	if after >= before {
		t.Errorf("RssFile did not drop: %d -> %d KiB", before, after)
	}
	// Code and constants fault back in.
	if !regexp.MustCompile(`^a+$`).MatchString("aaa") {
		t.Fatal("regexp broken after page-out")
	}
}

func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`RssFile:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		t.Skip("no RssFile in /proc/self/status")
	}
	v, _ := strconv.Atoi(string(m[1]))
	return v
}

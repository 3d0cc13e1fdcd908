//go:build linux

package server

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseStartupPages tells the kernel that the pages of signet's own
// executable resident now may be reclaimed (madvise MADV_PAGEOUT, Linux
// 5.4+). Start-up runs the initialisers of some 600 packages, which touch
// code and type data all over a 70 MB executable (and the kernel maps
// 64 KiB around each touch): ~50 MiB resident that serving never uses
// again. Serving faults back the few MiB it needs, from the page cache or
// the disk. Returns the bytes advised.
func releaseStartupPages() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-025a4000 r-xp 00000000 fe:00 10381434   /path/to/signet
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || strings.Contains(fields[1], "w") {
			continue // only the executable's read-only mappings: code, constants, tables
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_PAGEOUT); e != 0 {
			return total, fmt.Errorf("madvise(MADV_PAGEOUT): %w", e)
		}
		total += int64(end - start)
	}
	return total, sc.Err()
}

package kube

import "testing"

func TestNextPage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		size, n int
		want    int64
	}{
		{0, 0, ListPageSize},                                  // an empty page
		{10 * 10 << 10, 10, ListPageSize},                     // Pods of 10 KiB: full pages
		{10 * 200 << 10, 10, 20},                              // 200 KiB each: ~4 MiB pages
		{10 * 1536 << 10, 10, MinListPageSize},                // etcd's limit: never under the minimum
		{ListPageSize * 40 << 10, ListPageSize, ListPageSize}, // 40 KiB each: 4 MiB in a full page
	} {
		if got := nextPage(tc.size, tc.n); got != tc.want {
			t.Errorf("nextPage(%d, %d) = %d, want %d", tc.size, tc.n, got, tc.want)
		}
	}
}

package admission

import (
	"testing"

	"github.com/signet-dev/signet/internal/workload"
)

func TestSameImages(t *testing.T) {
	t.Parallel()
	d := "@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	img := func(s workload.Section, c, ref string) workload.Image {
		return workload.Image{Section: s, Container: c, Ref: ref}
	}
	parent := []workload.Image{img(workload.Containers, "app", "r/app"+d), img(workload.InitContainers, "init", "r/init"+d)}
	tests := []struct {
		name   string
		child  []workload.Image
		pinned bool
		want   bool
	}{
		{"identical pinned", parent, true, true},
		{"reordered", []workload.Image{parent[1], parent[0]}, true, true},
		{"other image", []workload.Image{img(workload.Containers, "app", "r/evil"+d), parent[1]}, true, false},
		{"extra container", append(append([]workload.Image{}, parent...), img(workload.Containers, "x", "r/x"+d)), true, false},
		{"moved to another section", []workload.Image{img(workload.InitContainers, "app", "r/app"+d), parent[1]}, true, false},
		{"missing one", parent[:1], true, false},
	}
	for _, tc := range tests {
		if got := sameImages(parent, tc.child, tc.pinned); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	tagged := []workload.Image{img(workload.Containers, "app", "r/app:v1")}
	if sameImages(tagged, tagged, true) {
		t.Error("tags are no proof: pinned comparison must need digests")
	}
	if !sameImages(tagged, tagged, false) {
		t.Error("unpinned comparison of equal images")
	}
}

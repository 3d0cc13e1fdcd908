package version

import (
	"runtime"
	"testing"
)

// TestGet: the commit set at link time wins over the build information;
// the Go version and platform are the running binary's.
func TestGet(t *testing.T) {
	old := Commit
	t.Cleanup(func() { Commit = old })
	Commit = "0123456789abcdef0123456789abcdef01234567"
	got := Get()
	if got.Commit != Commit || got.GoVersion != runtime.Version() || got.Platform != runtime.GOOS+"/"+runtime.GOARCH || got.Version != Version {
		t.Errorf("Get() = %+v", got)
	}
	if want := Version + " (0123456789ab)"; String() != want {
		t.Errorf("String() = %q, want %q", String(), want)
	}
}

package reverify

import (
	"os"
	"testing"

	"github.com/signet-dev/signet/test/harness"
)

// TestMain runs the tests, then removes the binaries the harness built.
func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}

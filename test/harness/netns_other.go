//go:build !linux

package harness

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// RunInNetNS needs Linux network namespaces; elsewhere it runs nothing and
// says so.
func RunInNetNS(m *testing.M, prepare ...func() error) int {
	fmt.Fprintln(os.Stderr, "harness: these tests run in a private network namespace, which needs Linux")
	return 1
}

func dieWithParent(*exec.Cmd) {}

package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// netnsEnv marks the test binary re-executed inside its network namespace.
const netnsEnv = "SIGNET_TEST_NETNS"

// RunInNetNS runs a test package's tests in a private network namespace
// with only loopback up: call it from TestMain as
// os.Exit(harness.RunInNetNS(m, harness.PrepareSigstore)). Outside the
// namespace it runs prepare (installing and building what the tests need
// while the network is there), makes sure the modules the signet binary
// needs are downloaded, then re-executes the test binary under `unshare
// -n` (`unshare -rn` when not root) and returns its exit code. Inside, it
// brings lo up and runs the tests. Everything the tests start (registries,
// servers, the signet binary) lives in the namespace: nothing listens
// where other processes can reach it, fixed ports cannot clash, and the
// namespace disappears with its last process.
func RunInNetNS(m *testing.M, prepare ...func() error) int {
	if os.Getenv(netnsEnv) == "1" {
		if err := loopbackUp(); err != nil {
			fmt.Fprintf(os.Stderr, "harness: bringing up lo in the test's network namespace: %v\n", err)
			return 1
		}
		code := m.Run()
		Cleanup()
		return code
	}
	for _, p := range prepare {
		if err := p(); err != nil {
			fmt.Fprintf(os.Stderr, "harness: preparing the tests: %v\n", err)
			return 1
		}
	}
	// Bin builds inside the namespace, without a network: download first.
	dl := exec.Command("go", "list", "-deps", "./cmd/signet", "./test/registry")
	dl.Dir = Root
	if out, err := dl.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "harness: downloading the modules signet needs: %v\n%s", err, out)
		return 1
	}
	unshare := []string{"-n"}
	if os.Geteuid() != 0 {
		unshare = []string{"-r", "-n"} // a user namespace lets a non-root user make a network namespace
	}
	cmd := exec.Command("unshare", append(append(unshare, "--", os.Args[0]), os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	dieWithParent(cmd)
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.ExitCode() > 0:
		return ee.ExitCode()
	default:
		fmt.Fprintf(os.Stderr, "harness: running the tests in a private network namespace (unshare -n; needs root or user namespaces): %v\n", err)
		return 1
	}
}

// loopbackUp sets IFF_UP on lo, which a new network namespace has down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// dieWithParent has the kernel kill cmd when the test binary dies, so a
// test killed by its timeout leaves no servers behind.
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

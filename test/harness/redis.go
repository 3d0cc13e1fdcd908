package harness

import (
	"net"
	"os/exec"
	"testing"
)

// StartRedis runs a real redis-server (Debian's, installed through
// hack/apt.sh when missing) on a free loopback port, without persistence,
// and returns it with Host set to host:port.
func StartRedis(t testing.TB) *Proc {
	t.Helper()
	NeedApt(t, "redis-server=redis-server")
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--dir", t.TempDir())
	p := Start(t, cmd)
	p.Host = addr
	waitTCP(t, addr)
	return p
}

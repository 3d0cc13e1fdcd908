// Command signet verifies container image signatures against a policy, from
// the command line and as a Kubernetes admission webhook.
package main

import (
	"context"
	_ "github.com/signet-dev/signet/internal/keysource/kmsproviders" // awskms://, gcpkms://, azurekms://, hashivault:// keys
	"os"
	"os/signal"
	"syscall"

	"github.com/signet-dev/signet/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

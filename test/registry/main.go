// Command registry serves go-containerregistry's in-memory registry with the
// OCI 1.1 referrers API, as a separate process, for interop tests and the
// demo. The distribution registry has no referrers API; this one does.
//
//	registry -addr 127.0.0.1:5010
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	// The chosen address on stdout lets callers use port 0.
	fmt.Println(ln.Addr().String())
	srv := &http.Server{
		Handler:           registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(os.Stderr, "", 0))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

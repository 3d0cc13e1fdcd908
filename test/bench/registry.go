package main

import (
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// countingRegistry is go-containerregistry's in-memory registry on
// loopback, counting the requests it serves.
type countingRegistry struct {
	host     string
	requests atomic.Int64
	// conns counts the connections accepted.
	conns atomic.Int64
}

func startRegistry() (*countingRegistry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &countingRegistry{host: ln.Addr().String()}
	h := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)), ggcrregistry.WithReferrersSupport(true))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			r.requests.Add(1)
			h.ServeHTTP(w, req)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				r.conns.Add(1)
			}
		},
	}
	go srv.Serve(ln)
	return r, nil
}

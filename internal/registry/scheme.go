package registry

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// Insecure is a set of registries (host or host:port, exactly as images
// name them) that signet may reach over plain HTTP. Every other registry is
// reached over HTTPS only: go-containerregistry's own fallback to plain
// HTTP (for localhost, loopback and private addresses, and *.localhost
// names) is refused. The nil *Insecure is the empty set.
type Insecure struct {
	hosts map[string]struct{}
}

// NewInsecure returns the set of hosts. Host names are compared without
// regard to case; ports must match exactly.
func NewInsecure(hosts ...string) *Insecure {
	if len(hosts) == 0 {
		return nil
	}
	s := &Insecure{hosts: make(map[string]struct{}, len(hosts))}
	for _, h := range hosts {
		s.hosts[strings.ToLower(h)] = struct{}{}
	}
	return s
}

// Has says whether host may be reached over plain HTTP.
func (s *Insecure) Has(host string) bool {
	if s == nil {
		return false
	}
	_, ok := s.hosts[strings.ToLower(host)]
	return ok
}

type insecureKey struct{}

// ContextWithInsecure returns a copy of ctx whose registry requests may
// also reach the registries in s over plain HTTP. The engine puts its
// policy's insecureRegistries there, so a policy reload changes them.
func ContextWithInsecure(ctx context.Context, s *Insecure) context.Context {
	if s == nil {
		return ctx
	}
	return context.WithValue(ctx, insecureKey{}, s)
}

func (l limited) allowed(ctx context.Context, host string) bool {
	if l.insecure.Has(host) {
		return true
	}
	s, _ := ctx.Value(insecureKey{}).(*Insecure)
	return s.Has(host)
}

// InsecureError says signet refused to send a request over plain HTTP.
// It says nothing about the image: Classify makes it inconclusive.
type InsecureError struct {
	URL    string
	Reason string
}

func (e *InsecureError) Error() string {
	return fmt.Sprintf("refused plain HTTP to %s: %s", e.URL, e.Reason)
}

// scheme applies the scheme rules to req and returns the request to send
// and whether credentials were taken off it. A registry listed as
// insecure is reached over plain HTTP only, HTTPS requests included
// (go-containerregistry pings over HTTPS first and keeps what worked; this
// way the answer does not depend on a race). Refused: plain HTTP to any
// host not listed, a redirect from HTTPS to plain HTTP, and anything but
// the registry API (/v2/…: a token realm, say) over plain HTTP.
// Credentials (an Authorization header, user info in the URL) never go
// over plain HTTP: they are taken off, and an answer asking for them
// (401, 403) becomes an *InsecureError.
func (l limited) scheme(req *http.Request) (*http.Request, bool, error) {
	ctx := req.Context()
	plain := func(r *http.Request) bool {
		return r.URL.Scheme == "http" || l.allowed(ctx, r.URL.Host)
	}
	if !plain(req) {
		return req, false, nil
	}
	if req.URL.Scheme == "http" && !l.allowed(ctx, req.URL.Host) {
		return nil, false, &InsecureError{URL: req.URL.Redacted(), Reason: fmt.Sprintf("%s is not listed in the policy's insecureRegistries (signet uses HTTPS only)", req.URL.Host)}
	}
	if prev := req.Response; prev != nil && prev.Request != nil && !plain(prev.Request) {
		return nil, false, &InsecureError{URL: req.URL.Redacted(), Reason: "redirected there from HTTPS (" + prev.Request.URL.Redacted() + ")"}
	}
	if start, _ := first(req); classify(start.URL.Path) == classToken {
		return nil, false, &InsecureError{URL: req.URL.Redacted(), Reason: "only the registry API (/v2/) is read over plain HTTP: no token realm, no credentials"}
	}
	wire := req
	if req.URL.User != nil || req.Header.Get("Authorization") != "" {
		wire = req.Clone(ctx)
		wire.URL.Scheme = "http"
	} else if req.URL.Scheme != "http" {
		// Nothing to take off: a shallow copy with its own URL.
		wire = req.WithContext(ctx)
		u := *req.URL
		u.Scheme = "http"
		wire.URL = &u
	}
	stripped := wire.URL.User != nil || wire.Header.Get("Authorization") != ""
	wire.URL.User = nil
	wire.Header.Del("Authorization")
	return wire, stripped, nil
}

// withheld is the error for an answer asking for the credentials scheme
// took off a plain HTTP request.
func withheld(req *http.Request, status int) error {
	return &InsecureError{URL: req.URL.Redacted(), Reason: fmt.Sprintf("the registry asks for credentials (HTTP %d), and signet never sends credentials over plain HTTP (use HTTPS, or anonymous access)", status)}
}

package registry

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Response size limits. go-containerregistry reads a manifest or a
// referrers list whole into memory, up to 100 MiB, before parsing it; a
// registry claiming gigabytes would cost 100 MiB (and more while the JSON
// is decoded) per image, per admission. signet refuses them much earlier.
//
// Every response body is bounded by what the request that started it
// fetches — the first request of a redirect chain —, never by where the
// chain ended: a manifest redirected to another path or another host is
// still a manifest.
const (
	// MaxManifestBytes bounds one manifest, image index or referrers list.
	// The OCI distribution spec asks registries to accept manifests of at
	// least 4 MiB, so no valid image needs more; a referrers list of 4 MiB
	// holds some ten thousand descriptors.
	MaxManifestBytes = 4 << 20
	// MaxBlobBytes bounds one blob. signet reads blobs only for signature
	// material (cosign payloads and bundles, Notation envelopes: 1 MiB
	// each, bounded again by their readers), never image layers.
	MaxBlobBytes = 4 << 20
	// MaxTokenBytes bounds an answer from anywhere but a registry's /v2/
	// API: a bearer token realm (go-containerregistry reads 64 KiB of it).
	MaxTokenBytes = 64 << 10
	// MaxPingBytes bounds the answer to the /v2/ ping, which is discarded.
	MaxPingBytes = 64 << 10
	// MaxErrorBytes bounds the body of an answer that is not a success
	// (go-containerregistry reads 64 KiB of it); the rest is cut off
	// silently: it only explains an error.
	MaxErrorBytes = 64 << 10
	// MaxHeaderBytes bounds the headers of one registry response
	// (net/http's default is 10 MiB).
	MaxHeaderBytes = 256 << 10
	// MaxRedirects bounds the redirects followed for one request, as
	// net/http does by default. go-containerregistry v0.22.1 installs its
	// own CheckRedirect (SSRF protection), which drops net/http's limit of
	// ten: a registry redirecting in a loop held each request until its
	// deadline, at thousands of requests a second.
	MaxRedirects = 10
)

// MaxLargeBlobBytes bounds a blob read under ContextWithBlobLimit.
const MaxLargeBlobBytes = 128 << 20

type blobLimitKey struct{}

// ContextWithBlobLimit returns a context whose blob reads may return up to
// n bytes instead of MaxBlobBytes (at most MaxLargeBlobBytes): attestation
// envelopes (an SBOM of a large image) are larger than signatures. The
// caller bounds how many such reads run at once.
func ContextWithBlobLimit(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, blobLimitKey{}, min(n, MaxLargeBlobBytes))
}

// RedirectError says a registry redirected a request more than
// MaxRedirects times.
type RedirectError struct {
	URL string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("registry redirected %s more than %d times (a redirect loop?)", e.URL, MaxRedirects)
}

// TooLargeError says a registry answered with more bytes than signet
// reads. It is a property of what the registry holds, not a passing
// failure: Classify makes it failed.
type TooLargeError struct {
	URL string
	// Size is the declared Content-Length, -1 when the body was cut off
	// while being read.
	Size  int64
	Limit int64
	// What names what was fetched ("a manifest or referrers list").
	What string
}

func (e *TooLargeError) Error() string {
	size := "more"
	if e.Size >= 0 {
		size = fmt.Sprintf("%d bytes", e.Size)
	}
	what := e.What
	if what == "" {
		what = classManifest.what
	}
	return fmt.Sprintf("registry answered %s with %s, over signet's limit of %d bytes for %s", e.URL, size, e.Limit, what)
}

// class is what a request fetches, and how much of it signet reads.
type class struct {
	what string
	max  int64
}

var (
	classManifest = class{"a manifest or referrers list", MaxManifestBytes}
	classBlob     = class{"a blob", MaxBlobBytes}
	classToken    = class{"a token or other answer outside the registry API", MaxTokenBytes}
	classPing     = class{"the /v2/ ping", MaxPingBytes}
	classOther    = class{"a registry API answer", MaxManifestBytes}
)

// classify says what a request for path fetches: /v2/ is the ping,
// /v2/<name>/manifests/<ref> and /v2/<name>/referrers/<digest> are
// manifests, /v2/<name>/blobs/<digest> blobs; anything outside /v2/ is a
// token realm (or something a registry has no business sending signet to).
func classify(path string) class {
	if path == "/v2/" || path == "/v2" {
		return classPing
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return classToken
	}
	// <name>/<kind>/<reference>: the kind is the next-to-last component,
	// so a repository named "…/manifests/…" does not confuse it.
	rest = strings.TrimSuffix(rest, "/")
	i := strings.LastIndexByte(rest, '/')
	if i < 0 {
		return classOther
	}
	j := strings.LastIndexByte(rest[:i], '/')
	switch rest[j+1 : i] {
	case "manifests", "referrers":
		return classManifest
	case "blobs":
		return classBlob
	}
	return classOther
}

// first returns the request that started req's redirect chain. A
// redirected request carries the response that caused it, which carries
// its own request.
func first(req *http.Request) (*http.Request, int) {
	hops := 0
	for req.Response != nil && req.Response.Request != nil {
		req = req.Response.Request
		hops++
	}
	return req, hops
}

// limited is the transport right under go-containerregistry's: it sees
// every request signet makes to a registry (pings, token requests,
// redirects). It enforces the scheme rules (HTTPS unless the registry is
// listed as insecure; never credentials over plain HTTP; no redirect from
// HTTPS to HTTP), stops redirect chains longer than MaxRedirects, and
// bounds every response body by what the first request of its chain
// fetches: by Content-Length before reading anything, and by counting
// while it is read when the length is absent or a lie.
type limited struct {
	inner http.RoundTripper
	// insecure are the Client's own insecure registries; a request's
	// context may add the policy's (ContextWithInsecure).
	insecure *Insecure
}

// RoundTrip implements http.RoundTripper.
func (l limited) RoundTrip(req *http.Request) (*http.Response, error) {
	start, hops := first(req)
	if hops > MaxRedirects {
		return nil, &RedirectError{URL: start.URL.Redacted()}
	}
	wire, stripped, err := l.scheme(req)
	if err != nil {
		return nil, err
	}
	resp, err := l.inner.RoundTrip(wire)
	if err != nil {
		return resp, err
	}
	if stripped && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		resp.Body.Close()
		return nil, withheld(req, resp.StatusCode)
	}
	if wire != req {
		// Layers above see the request they made.
		resp.Request = req
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// Error bodies only explain the error: cut off, not refused.
		resp.Body = &truncated{ReadCloser: resp.Body, r: io.LimitReader(resp.Body, MaxErrorBytes)}
		return resp, nil
	}
	c := classify(start.URL.Path)
	if n, ok := start.Context().Value(blobLimitKey{}).(int64); ok && c == classBlob {
		c.max = n
	}
	if resp.ContentLength > c.max {
		resp.Body.Close()
		return nil, &TooLargeError{URL: req.URL.Redacted(), Size: resp.ContentLength, Limit: c.max, What: c.what}
	}
	resp.Body = &capped{ReadCloser: resp.Body, left: c.max, url: req.URL, class: c}
	return resp, nil
}

// capped fails a read that goes past its limit.
type capped struct {
	io.ReadCloser
	left  int64
	url   *url.URL
	class class
	// err is set once the limit is passed.
	err *TooLargeError
}

func (c *capped) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		c.err = &TooLargeError{URL: c.url.Redacted(), Size: -1, Limit: c.class.max, What: c.class.what}
		return 0, c.err
	}
	return n, err
}

// truncated reads through r and closes the underlying body.
type truncated struct {
	io.ReadCloser
	r io.Reader
}

func (t *truncated) Read(p []byte) (int, error) { return t.r.Read(p) }

package registry

import (
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Response size limits. go-containerregistry reads a manifest or a
// referrers list whole into memory, up to 100 MiB, before parsing it; a
// registry claiming gigabytes would cost 100 MiB (and more while the JSON
// is decoded) per image, per admission. signet refuses them much earlier.
const (
	// MaxManifestBytes bounds one manifest, image index or referrers list.
	// The OCI distribution spec asks registries to accept manifests of at
	// least 4 MiB, so no valid image needs more; a referrers list of 4 MiB
	// holds some ten thousand descriptors.
	MaxManifestBytes = 4 << 20
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
}

func (e *TooLargeError) Error() string {
	size := "more"
	if e.Size >= 0 {
		size = fmt.Sprintf("%d bytes", e.Size)
	}
	return fmt.Sprintf("registry answered %s with %s, over signet's limit of %d bytes for a manifest or referrers list", e.URL, size, e.Limit)
}

// limited refuses manifest and referrers answers larger than max: by
// their Content-Length before reading anything, and by counting while
// they are read when the length is absent or a lie. It also stops redirect
// chains longer than MaxRedirects.
type limited struct {
	inner http.RoundTripper
	max   int64
}

// RoundTrip implements http.RoundTripper.
func (l limited) RoundTrip(req *http.Request) (*http.Response, error) {
	// A redirected request carries the response that caused it, which
	// carries its own request: the chain's length is the redirect count.
	hops := 0
	for r := req.Response; r != nil && r.Request != nil; r = r.Request.Response {
		if hops++; hops > MaxRedirects {
			return nil, &RedirectError{URL: r.Request.URL.Redacted()}
		}
	}
	resp, err := l.inner.RoundTrip(req)
	if err != nil || !boundedPath(req.URL.Path) || resp.StatusCode != http.StatusOK {
		// Error bodies and tokens are bounded by go-containerregistry
		// (its maxErrorBodySize, maxTokenBodySize); blobs by ReadBlob.
		return resp, err
	}
	u := req.URL.Redacted()
	if resp.ContentLength > l.max {
		resp.Body.Close()
		return nil, &TooLargeError{URL: u, Size: resp.ContentLength, Limit: l.max}
	}
	resp.Body = &capped{ReadCloser: resp.Body, left: l.max, url: u, max: l.max}
	return resp, nil
}

// boundedPath says whether a request is for a manifest or a referrers
// list: /v2/<name>/manifests/<ref>, /v2/<name>/referrers/<digest>.
func boundedPath(p string) bool {
	return strings.HasPrefix(p, "/v2/") && (strings.Contains(p, "/manifests/") || strings.Contains(p, "/referrers/"))
}

// capped fails a read that goes past its limit.
type capped struct {
	io.ReadCloser
	left     int64
	url      string
	max      int64
	exceeded bool
}

func (c *capped) Read(p []byte) (int, error) {
	if c.exceeded {
		return 0, &TooLargeError{URL: c.url, Size: -1, Limit: c.max}
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		c.exceeded = true
		return 0, &TooLargeError{URL: c.url, Size: -1, Limit: c.max}
	}
	return n, err
}

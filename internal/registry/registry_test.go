package registry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		ctx  context.Context
		err  error
		want verify.Outcome
		has  string
	}{
		{context.Background(), &transport.Error{StatusCode: http.StatusNotFound}, verify.Failed, "not found"},
		{context.Background(), &transport.Error{StatusCode: http.StatusUnauthorized}, verify.Inconclusive, "credentials"},
		{context.Background(), &transport.Error{StatusCode: http.StatusForbidden}, verify.Inconclusive, "HTTP 403"},
		{context.Background(), &transport.Error{StatusCode: http.StatusTooManyRequests}, verify.Inconclusive, "rate limiting"},
		{context.Background(), &transport.Error{StatusCode: http.StatusBadGateway}, verify.Inconclusive, "HTTP 502"},
		{context.Background(), fmt.Errorf("x: %w", context.DeadlineExceeded), verify.Inconclusive, "deadline"},
		{cancelled, errors.New("anything"), verify.Inconclusive, "deadline"},
		{context.Background(), &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, verify.Inconclusive, "unreachable"},
		{context.Background(), &url.Error{Op: "Get", URL: "https://example.com/v2/", Err: io.EOF}, verify.Inconclusive, "unreachable"},
		{context.Background(), fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), verify.Inconclusive, "mid-answer"},
		{context.Background(), errors.New(`error verifying sha256 checksum after reading 240 bytes; got "sha256:2b", want "sha256:f1"`), verify.Inconclusive, "unusable answer"},
		{context.Background(), &url.Error{Op: "Get", URL: "https://example.com/v2/", Err: &registry.TooLargeError{URL: "https://example.com/v2/app/manifests/v1", Size: 1 << 34, Limit: registry.MaxManifestBytes}}, verify.Failed, "over signet's limit"},
		{context.Background(), &url.Error{Op: "Get", URL: "https://example.com/v2/", Err: &registry.RedirectError{URL: "https://example.com/v2/app/manifests/v1"}}, verify.Inconclusive, "redirected"},
	}
	for _, tc := range tests {
		err := registry.Classify(tc.ctx, tc.err, "resolving example.com/app:v1")
		if got := verify.Classify(err); got != tc.want || !strings.Contains(err.Error(), tc.has) || !strings.Contains(err.Error(), "example.com/app:v1") {
			t.Errorf("Classify(%v) = %s %q, want %s containing %q", tc.err, got, err, tc.want, tc.has)
		}
		if !errors.Is(err, tc.err) && !errors.Is(err, errors.Unwrap(tc.err)) {
			t.Errorf("Classify(%v) does not wrap the cause", tc.err)
		}
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	img := reg.PushImage(t, "demo/app:v1")
	c := registry.MustNew(registry.WithInsecureRegistries(reg.Host))

	ref, _ := imageref.Parse(reg.Host + "/demo/app:v1")
	reg.Reset()
	d, err := c.Resolve(context.Background(), ref)
	if err != nil || d.DigestStr() != img.DigestStr() {
		t.Fatalf("Resolve = %v, %v; want %s", d, err, img.DigestStr())
	}
	// ping + HEAD.
	if n := reg.Requests(); n != 2 {
		t.Errorf("resolving took %d requests (%v), want 2", n, reg.Paths())
	}

	// A digest reference needs no request at all.
	reg.Reset()
	byDigest, _ := imageref.Parse(img.String())
	if d, err := c.Resolve(context.Background(), byDigest); err != nil || d.DigestStr() != img.DigestStr() || reg.Requests() != 0 {
		t.Errorf("Resolve(digest) = %v, %v after %d requests", d, err, reg.Requests())
	}

	missing, _ := imageref.Parse(reg.Host + "/demo/app:nope")
	if _, err := c.Resolve(context.Background(), missing); verify.Classify(err) != verify.Failed {
		t.Errorf("missing tag: %v (%s), want failed", err, verify.Classify(err))
	}
}

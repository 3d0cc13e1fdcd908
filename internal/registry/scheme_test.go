package registry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// TestPlainHTTP: go-containerregistry falls back to plain HTTP for
// loopback registries; signet reaches a registry over plain HTTP only when
// it is listed (by the Client or by the request's context, where the
// engine puts its policy's insecureRegistries), and never with
// credentials: the registry sees no request but the anonymous ping.
func TestPlainHTTP(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	img := reg.PushImage(t, "demo/app:v1")
	ref, _ := imageref.Parse(reg.Host + "/demo/app:v1")
	plain := registry.MustNew(registry.WithKeychain(authn.NewMultiKeychain()))
	listed := registry.NewInsecure(reg.Host)
	tests := []struct {
		name     string
		client   *registry.Client
		insecure *registry.Insecure
		creds    bool
		auth     bool
		has      string // empty: resolves
		paths    []string
	}{
		{name: "not listed", client: plain, has: "is not listed in the policy's insecureRegistries"},
		{name: "other port listed", client: plain, insecure: registry.NewInsecure("127.0.0.1:1"), has: "not listed"},
		{name: "listed by the context", client: plain, insecure: listed, paths: []string{"GET /v2/", "HEAD /v2/demo/app/manifests/v1"}},
		{name: "listed by the client", client: registry.MustNew(registry.WithInsecureRegistries(strings.ToUpper(reg.Host))), paths: []string{"GET /v2/", "HEAD /v2/demo/app/manifests/v1"}},
		{name: "listed, credentials offered but not needed", client: plain, insecure: listed, creds: true, paths: []string{"GET /v2/", "HEAD /v2/demo/app/manifests/v1"}},
		{name: "listed, credentials needed", client: plain, insecure: listed, creds: true, auth: true, has: "never sends credentials over plain HTTP", paths: []string{"GET /v2/", "HEAD /v2/demo/app/manifests/v1", "GET /v2/demo/app/manifests/v1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: they share the registry's request log.
			reg.Reset()
			if tc.auth {
				reg.RequireBasicAuth("alice", "s3cret")
				defer reg.RequireBasicAuth("", "")
			}
			ctx := registry.ContextWithInsecure(context.Background(), tc.insecure)
			if tc.creds {
				ctx = registry.ContextWithKeychain(ctx, registry.NewKeychain(static{"alice", "s3cret"}))
			}
			d, err := tc.client.Resolve(ctx, ref)
			switch {
			case tc.has == "" && (err != nil || d.DigestStr() != img.DigestStr()):
				t.Fatalf("Resolve = %v, %v; want %s", d, err, img.DigestStr())
			case tc.has != "" && (verify.Classify(err) != verify.Inconclusive || !strings.Contains(err.Error(), tc.has)):
				t.Fatalf("Resolve = %v (%s), want inconclusive saying %q", err, verify.Classify(err), tc.has)
			}
			if got := strings.Join(reg.Paths(), ", "); got != strings.Join(tc.paths, ", ") {
				t.Errorf("the registry saw [%s], want [%s]", got, strings.Join(tc.paths, ", "))
			}
			if n := reg.Authorized(); n != 0 {
				t.Errorf("%d requests carried credentials over plain HTTP", n)
			}
		})
	}
}

// TestPlainHTTPTokenRealm: a registry listed as insecure whose token realm
// is plain HTTP gets no credentials: not for the token, and not the token
// (a bearer token over plain HTTP is a credential too).
func TestPlainHTTPTokenRealm(t *testing.T) {
	t.Parallel()
	var authorized atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			authorized.Add(1)
		}
		if r.URL.Path == "/token" {
			w.Write([]byte(`{"token":"t0ken"}`))
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="test"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref, _ := imageref.Parse(host + "/demo/app:v1")
	c := registry.MustNew(registry.WithKeychain(authn.NewMultiKeychain()), registry.WithInsecureRegistries(host))
	for _, kc := range []*registry.Keychain{nil, registry.NewKeychain(static{"alice", "s3cret"})} {
		_, err := c.Resolve(registry.ContextWithKeychain(context.Background(), kc), ref)
		if verify.Classify(err) != verify.Inconclusive || !strings.Contains(err.Error(), "realm") {
			t.Errorf("credentials %v: %v, want refused", kc != nil, err)
		}
	}
	if n := authorized.Load(); n != 0 {
		t.Errorf("%d requests carried an Authorization header over plain HTTP", n)
	}
}

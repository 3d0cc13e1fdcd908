// Package testutil gives tests a real OCI registry (go-containerregistry's
// in-process registry, served over HTTP on loopback) that counts requests,
// and wraps package fixture's signers for use with testing.TB.
package testutil

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/signet-dev/signet/internal/fixture"
)

// Registry is an in-process OCI registry on loopback that counts requests.
// It serves plain HTTP on Host, which signet reaches only when a policy
// lists Host under insecureRegistries (Policy does) or a Client has it in
// registry.WithInsecureRegistries; and the same registry over HTTPS on
// TLSHost, with a certificate CA signs (registry.WithCABundle), for tests
// that send credentials.
type Registry struct {
	Host    string // 127.0.0.1:port, plain HTTP
	TLSHost string // localhost:port, HTTPS
	CA      []byte // PEM certificate TLSHost's certificate is signed by
	server  *httptest.Server
	tls     *httptest.Server

	requests   atomic.Int64
	authorized atomic.Int64
	mu         sync.Mutex
	paths      []string
	authz      []string // the Authorization header of each request
	down       atomic.Bool
	auth       atomic.Pointer[[2]string]
	// intercept, when set, may answer a request itself (true).
	intercept atomic.Pointer[func(http.ResponseWriter, *http.Request) bool]
}

// NewRegistry starts a registry; referrers selects whether it implements the
// OCI 1.1 referrers API (without it, clients use the referrers tag schema).
func NewRegistry(t testing.TB, referrers bool) *Registry {
	t.Helper()
	opts := []ggcrregistry.Option{ggcrregistry.Logger(log.New(io.Discard, "", 0))}
	if referrers {
		opts = append(opts, ggcrregistry.WithReferrersSupport(true))
	}
	h := ggcrregistry.New(opts...)
	r := &Registry{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		r.requests.Add(1)
		if req.Header.Get("Authorization") != "" {
			r.authorized.Add(1)
		}
		r.mu.Lock()
		r.paths = append(r.paths, req.Method+" "+req.URL.Path)
		r.authz = append(r.authz, req.Header.Get("Authorization"))
		r.mu.Unlock()
		if f := r.intercept.Load(); f != nil && (*f)(w, req) {
			return
		}
		if a := r.auth.Load(); a != nil {
			if u, p, ok := req.BasicAuth(); !ok || u != a[0] || p != a[1] {
				w.Header().Set("WWW-Authenticate", `Basic realm="testutil"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		h.ServeHTTP(w, req)
	})
	r.server = httptest.NewServer(handler)
	t.Cleanup(r.server.Close)
	r.Host = strings.TrimPrefix(r.server.URL, "http://")
	ca, key, err := fixture.ServingCert("localhost")
	check(t, err)
	cert, err := tls.X509KeyPair(ca, key)
	check(t, err)
	r.tls = httptest.NewUnstartedServer(handler)
	r.tls.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	r.tls.StartTLS()
	t.Cleanup(r.tls.Close)
	_, port, _ := net.SplitHostPort(r.tls.Listener.Addr().String())
	r.TLSHost, r.CA = "localhost:"+port, ca
	return r
}

// RequireBasicAuth makes every request from now on need HTTP basic
// credentials user:pass (401 otherwise); an empty user turns it off. Push
// before calling it.
func (r *Registry) RequireBasicAuth(user, pass string) {
	if user == "" {
		r.auth.Store(nil)
		return
	}
	r.auth.Store(&[2]string{user, pass})
}

// Requests returns the number of requests served since the last Reset.
func (r *Registry) Requests() int64 { return r.requests.Load() }

// Paths returns "METHOD /path" of each request since the last Reset.
func (r *Registry) Paths() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.paths...)
}

// Authorized returns the number of requests since the last Reset that
// carried an Authorization header.
func (r *Registry) Authorized() int64 { return r.authorized.Load() }

// Reset zeroes the request counters.
func (r *Registry) Reset() {
	r.requests.Store(0)
	r.authorized.Store(0)
	r.mu.Lock()
	r.paths, r.authz = nil, nil
	r.mu.Unlock()
}

// SetDown makes every request fail with 503 (down=true) or succeed again.
func (r *Registry) SetDown(down bool) { r.down.Store(down) }

// Close stops the registry: connections are refused from then on.
func (r *Registry) Close() {
	r.server.Close()
	r.tls.Close()
}

// Ref parses a reference in this registry ("demo/app:v1").
func (r *Registry) Ref(t testing.TB, s string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(r.Host + "/" + s)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// PushImage pushes a small random image to repo:tag and returns its digest
// reference.
func (r *Registry) PushImage(t testing.TB, repoTag string) name.Digest {
	t.Helper()
	d, err := fixture.PushImage(r.Host + "/" + repoTag)
	return must(t, d, err)
}

// Key is a signing key.
type Key struct{ *fixture.Key }

// NewKey generates a key.
func NewKey(t testing.TB) *Key {
	t.Helper()
	k, err := fixture.NewKey()
	return &Key{must(t, k, err)}
}

// Sign signs data.
func (k *Key) Sign(t testing.TB, data []byte) []byte {
	t.Helper()
	sig, err := k.Key.Sign(data)
	return must(t, sig, err)
}

// Payload returns the cosign simple-signing payload for digest in repo.
func Payload(repo, digest string) []byte { return fixture.Payload(repo, digest) }

// Statement returns an in-toto statement about img with predicateType.
func Statement(img name.Digest, predicateType string) []byte {
	return fixture.Statement(img, predicateType)
}

// SignLegacy adds a legacy cosign signature by key to img's ".sig" tag.
func SignLegacy(t testing.TB, img name.Digest, key *Key) {
	t.Helper()
	check(t, fixture.SignLegacy(img, key.Key))
}

// AppendLegacy adds an arbitrary payload and signature to img's ".sig" tag.
func AppendLegacy(t testing.TB, img name.Digest, payload, sig []byte) {
	t.Helper()
	check(t, fixture.AppendLegacy(img, payload, sig))
}

// AttachBundle attaches a Sigstore bundle signed by key to img.
func AttachBundle(t testing.TB, img name.Digest, key *Key, statement []byte) name.Digest {
	t.Helper()
	d, err := fixture.AttachBundle(img, key.Key, statement)
	return must(t, d, err)
}

// AppendAttestation signs statement with key and adds it to img's ".att"
// tag annotated with predicateType, as cosign attest does.
func AppendAttestation(t testing.TB, img name.Digest, key *Key, statement []byte, predicateType string) {
	t.Helper()
	check(t, fixture.AppendAttestation(img, key.Key, statement, predicateType))
}

// StatementOf returns an in-toto v1 statement about the subjects' digests
// with predicateType and predicate.
func StatementOf(predicateType string, predicate any, subjects ...name.Digest) []byte {
	var subs []any
	for _, s := range subjects {
		alg, hex, _ := strings.Cut(s.DigestStr(), ":")
		subs = append(subs, map[string]any{"name": s.Context().Name(), "digest": map[string]string{alg: hex}})
	}
	b, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       subs,
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	if err != nil {
		panic(err)
	}
	return b
}

// AttachReferrer attaches a one-layer artifact to img.
func AttachReferrer(t testing.TB, img name.Digest, artifactType, layerType string, content []byte) name.Digest {
	t.Helper()
	d, err := fixture.AttachReferrer(img, artifactType, layerType, content)
	return must(t, d, err)
}

// AttachArtifact attaches a one-layer artifact with a chosen config type.
func AttachArtifact(t testing.TB, img name.Digest, artifactType, configType, layerType string, content []byte) name.Digest {
	t.Helper()
	d, err := fixture.AttachArtifact(img, artifactType, configType, layerType, content)
	return must(t, d, err)
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func must[T any](t testing.TB, v T, err error) T {
	t.Helper()
	check(t, err)
	return v
}

// StalledServer returns the address of a server that accepts connections
// and never answers: a registry stuck mid-request.
func StalledServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln.Addr().String()
}

// Indent indents every line of a PEM block but the first by n spaces, for
// a YAML block scalar that starts at that column.
func Indent(pem string, n int) string {
	return strings.ReplaceAll(strings.TrimSpace(pem), "\n", "\n"+strings.Repeat(" ", n))
}

// loopback finds the plain-HTTP hosts of test registries in rules.
var loopback = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)

// Policy returns an ImagePolicy with a cosign validator "signed" trusting
// keyPEM as trust root "ci", static validators "allow" and "deny", and the
// given rules (a YAML list, one rule per line). Every 127.0.0.1:port the
// rules name (a test registry's Host) is listed under insecureRegistries.
func Policy(keyPEM, rules string) string {
	var insecure []string
	for _, h := range loopback.FindAllString(rules, -1) {
		if !slices.Contains(insecure, h) {
			insecure = append(insecure, h)
		}
	}
	list := ""
	if len(insecure) > 0 {
		list = "insecureRegistries: [" + strings.Join(insecure, ", ") + "]\n"
	}
	return `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
` + list + `validators:
- name: signed
  type: cosign
  trustRoots:
  - name: ci
    key: |
      ` + Indent(keyPEM, 6) + `
- {name: allow, type: static, approve: true}
- {name: deny, type: static, approve: false}
rules:
` + rules
}

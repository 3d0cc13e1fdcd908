package hostile

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-dev/signet/internal/fixture"
)

// GiB is a gibibyte, for Fault.Huge.
const GiB = int64(1) << 30

// Fault is what the registry does instead of (or to) its real answer. Set
// one behaviour; Times and RetryAfter qualify it.
type Fault struct {
	// Times limits the fault to the first Times matching requests; later
	// ones get the real answer. Zero: every matching request.
	Times int

	// Status answers with this HTTP status and a short error body.
	Status int
	// RetryAfter is sent with Status when set ("2", or an HTTP date).
	RetryAfter string

	// StallHeaders accepts the request and never answers, until the
	// client goes away.
	StallHeaders bool
	// StallAfter, when positive, sends the real headers and the first
	// StallAfter bytes of the real body, then stalls (slowloris).
	StallAfter int
	// Trickle sends the real body one byte per Trickle.
	Trickle time.Duration
	// EndlessHeaders sends headers that never end, 1 KiB per line.
	EndlessHeaders bool

	// Redirect answers 307 to this base URL (another host) with the same
	// path. "loop" redirects to the same path forever.
	Redirect string
	// RedirectTo answers 307 to this URL: another path, on this host or
	// another.
	RedirectTo string

	// Huge claims a body of Huge bytes — a manifest's opening followed by
	// white space — streamed lazily from a small buffer. With Chunked, no
	// Content-Length is sent.
	Huge    int64
	Chunked bool

	// Corrupt serves the real answer with one byte changed: same length,
	// same headers, another digest.
	Corrupt bool
	// Truncate declares the real length but closes the connection halfway.
	Truncate bool

	// Body replaces the answer with 200 and this body, of ContentType.
	Body        []byte
	ContentType string

	// Delay serves the real answer after Delay: a slow but working
	// registry.
	Delay time.Duration
	// Kill makes the registry die on this request, as a crashed process
	// does: this request's connection is reset without an answer, the
	// listener closes (later connections are refused) and open
	// connections are dropped, until Revive.
	Kill bool
}

type rule struct {
	method, contains string
	fault            Fault
	hits             int
}

// Registry is the hostile registry.
type Registry struct {
	// Host is host:port on loopback.
	Host string

	inner  http.Handler
	stop   chan struct{}
	server *httptest.Server

	mu     sync.Mutex
	rules  []*rule
	log    []string
	killed bool
}

// New starts a registry on loopback, with the OCI referrers API, stopped
// when the test ends.
func New(t testing.TB) *Registry {
	t.Helper()
	r := &Registry{
		inner: ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)), ggcrregistry.WithReferrersSupport(true)),
		stop:  make(chan struct{}),
	}
	srv := httptest.NewServer(r)
	r.server = srv
	// Cleanups run last-registered first: stalled handlers are released
	// before Close waits for them.
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(r.stop) })
	r.Host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// On injects f into every request whose method is method ("" for any) and
// whose path contains contains. The first rule that matches (and has hits
// left) applies.
func (r *Registry) On(method, contains string, f Fault) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rules = append(r.rules, &rule{method: method, contains: contains, fault: f})
}

// Clear removes every fault and forgets the requests seen.
func (r *Registry) Clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rules, r.log = nil, nil
}

// Requests returns "METHOD path" of every request served so far.
func (r *Registry) Requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

func (r *Registry) match(req *http.Request) (Fault, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, req.Method+" "+req.URL.Path)
	for _, ru := range r.rules {
		if ru.method != "" && ru.method != req.Method || !strings.Contains(req.URL.Path, ru.contains) {
			continue
		}
		if ru.fault.Times > 0 && ru.hits >= ru.fault.Times {
			continue
		}
		ru.hits++
		return ru.fault, true
	}
	return Fault{}, false
}

// ServeHTTP implements http.Handler.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	f, ok := r.match(req)
	if !ok {
		r.inner.ServeHTTP(w, req)
		return
	}
	switch {
	case f.Status != 0:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		fmt.Fprintf(w, `{"errors":[{"code":"UNAVAILABLE","message":"hostile: status %d"}]}`, f.Status)
	case f.StallHeaders:
		r.wait(req, 0)
	case f.EndlessHeaders:
		r.endlessHeaders(w, req)
	case f.Redirect == "loop":
		http.Redirect(w, req, req.URL.Path+"?hop="+strconv.Itoa(atoiOr0(req.URL.Query().Get("hop"))+1), http.StatusTemporaryRedirect)
	case f.RedirectTo != "":
		http.Redirect(w, req, f.RedirectTo, http.StatusTemporaryRedirect)
	case f.Redirect != "":
		http.Redirect(w, req, f.Redirect+req.URL.RequestURI(), http.StatusTemporaryRedirect)
	case f.Kill:
		r.kill(w)
	case f.Delay > 0:
		r.wait(req, f.Delay)
		r.inner.ServeHTTP(w, req)
	case f.Huge > 0:
		r.huge(w, req, f)
	case f.Body != nil:
		w.Header().Set("Content-Type", f.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(f.Body)))
		w.Write(f.Body)
	default:
		r.mangle(w, req, f)
	}
}

// wait blocks until the client goes away, the registry stops, or d passes
// (d = 0: no limit).
func (r *Registry) wait(req *http.Request, d time.Duration) {
	var after <-chan time.Time
	if d > 0 {
		after = time.After(d)
	}
	select {
	case <-req.Context().Done():
	case <-r.stop:
	case <-after:
	}
}

func (r *Registry) stopped(req *http.Request) bool {
	select {
	case <-req.Context().Done():
		return true
	case <-r.stop:
		return true
	default:
		return false
	}
}

// kill resets the request's connection and stops serving: the listener
// closes and every other connection is dropped.
func (r *Registry) kill(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST, not FIN: the peer sees "connection reset"
		}
		conn.Close()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.killed {
		r.killed = true
		r.server.Listener.Close()
		r.server.CloseClientConnections()
	}
}

// Revive listens again on the same address after a Kill; a registry that
// is not dead is left alone.
func (r *Registry) Revive(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.killed {
		return
	}
	ln, err := net.Listen("tcp", r.Host)
	if err != nil {
		t.Fatalf("reviving the registry on %s: %v", r.Host, err)
	}
	r.killed = false
	// httptest.Server.Close, at cleanup, closes the current listener.
	r.server.Listener = ln
	go r.server.Config.Serve(ln) //nolint:errcheck // ends when the listener closes
}

// endlessHeaders writes a status line and header lines until the client
// hangs up, bypassing net/http's header handling.
func (r *Registry) endlessHeaders(w http.ResponseWriter, req *http.Request) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	buf.WriteString("HTTP/1.1 200 OK\r\n")
	line := "X-Hostile: " + strings.Repeat("h", 1024) + "\r\n"
	for !r.stopped(req) {
		if _, err := buf.WriteString(line); err != nil {
			return
		}
		if buf.Flush() != nil {
			return
		}
	}
}

// manifestOpening starts a huge "manifest"; white space follows.
const manifestOpening = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[`

func (r *Registry) huge(w http.ResponseWriter, req *http.Request, f Fault) {
	mt := types.OCIManifestSchema1
	if strings.Contains(req.URL.Path, "/referrers/") {
		mt = types.OCIImageIndex // else clients fall back to the referrers tag
	}
	w.Header().Set("Content-Type", string(mt))
	w.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("0", 64))
	if !f.Chunked {
		w.Header().Set("Content-Length", strconv.FormatInt(f.Huge, 10))
	}
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodHead {
		return
	}
	chunk := bytes.Repeat([]byte(" "), 64<<10)
	copy(chunk, manifestOpening)
	for sent := int64(0); sent < f.Huge && !r.stopped(req); {
		n := min(int64(len(chunk)), f.Huge-sent)
		if _, err := w.Write(chunk[:n]); err != nil {
			return
		}
		sent += n
		if sent == n {
			copy(chunk, bytes.Repeat([]byte(" "), len(manifestOpening)))
		}
	}
}

// mangle serves the real answer, altered as f says.
func (r *Registry) mangle(w http.ResponseWriter, req *http.Request, f Fault) {
	rec := httptest.NewRecorder()
	r.inner.ServeHTTP(rec, req)
	body := rec.Body.Bytes()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if f.Corrupt && len(body) > 0 {
		body = bytes.Clone(body)
		body[len(body)/2] ^= 0x20
	}
	w.WriteHeader(rec.Code)
	if req.Method == http.MethodHead {
		return
	}
	fl := http.NewResponseController(w)
	switch {
	case f.StallAfter > 0:
		w.Write(body[:min(f.StallAfter, len(body))])
		fl.Flush()
		r.wait(req, 0)
	case f.Trickle > 0:
		for i := range body {
			if _, err := w.Write(body[i : i+1]); err != nil {
				return
			}
			fl.Flush()
			r.wait(req, f.Trickle)
			if r.stopped(req) {
				return
			}
		}
	case f.Truncate:
		w.Write(body[:len(body)/2])
		// Returning short of Content-Length makes net/http close the
		// connection: the client sees an unexpected EOF.
	default:
		w.Write(body)
	}
}

func atoiOr0(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// Ref returns a reference to repoTag ("demo/app:v1") in this registry.
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }

// Push pushes a small random image to repoTag.
func (r *Registry) Push(t testing.TB, repoTag string) name.Digest {
	t.Helper()
	d, err := fixture.PushImage(r.Ref(repoTag))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// SignatureFlood gives img a legacy cosign ".sig" manifest of n layers, all
// the same well-formed payload for img with a signature no key made.
func SignatureFlood(t testing.TB, img name.Digest, n int) {
	t.Helper()
	payload := fixture.Payload(img.Context().Name(), img.DigestStr())
	layer := static.NewLayer(payload, "application/vnd.dev.cosign.simplesigning.v1+json")
	if err := remote.WriteLayer(img.Context(), layer); err != nil {
		t.Fatal(err)
	}
	cfg := static.NewLayer([]byte("{}"), types.OCIConfigJSON)
	if err := remote.WriteLayer(img.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	ld, cd := descriptor(t, layer), descriptor(t, cfg)
	ld.Annotations = map[string]string{"dev.cosignproject.cosign/signature": base64.StdEncoding.EncodeToString([]byte("not a signature"))}
	layers := make([]v1.Descriptor, n)
	for i := range layers {
		layers[i] = ld
	}
	putManifest(t, fixture.SigTag(img), v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cd, Layers: layers})
}

// ReferrersFlood attaches one Sigstore-bundle-typed referrer to img whose
// content is not a bundle, and returns a referrers index listing it n
// times: serve it with On(GET, "/referrers/", Fault{Body: …}).
func ReferrersFlood(t testing.TB, img name.Digest, n int) []byte {
	t.Helper()
	ref, err := fixture.AttachReferrer(img, fixture.BundleArtifactType, fixture.BundleArtifactType, []byte(`{"not":"a bundle"}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: d.Digest, Size: d.Size, ArtifactType: fixture.BundleArtifactType}
	descs := make([]v1.Descriptor, n)
	for i := range descs {
		descs[i] = desc
	}
	b, err := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: descs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func descriptor(t testing.TB, l v1.Layer) v1.Descriptor {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := l.Size()
	mt, _ := l.MediaType()
	return v1.Descriptor{MediaType: mt, Digest: d, Size: s}
}

type raw []byte

func (b raw) RawManifest() ([]byte, error)        { return b, nil }
func (b raw) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func putManifest(t testing.TB, ref name.Reference, m v1.Manifest) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Put(ref, raw(b)); err != nil {
		t.Fatal(err)
	}
}

package registry

import (
	"cmp"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// bodies serves ?n= bytes (with a Content-Length unless ?chunked=1) at
// any path, redirects /v2/loop/… to itself forever and ?to=URL to URL,
// and answers ?status= with that status.
func bodies(hops *atomic.Int32) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.Header.Get("Authorization") != "" {
			w.Header().Set("X-Authorized", "yes")
		}
		if strings.HasPrefix(r.URL.Path, "/v2/loop/") {
			hops.Add(1)
			http.Redirect(w, r, r.URL.Path+"?"+strconv.Itoa(int(hops.Load())), http.StatusTemporaryRedirect)
			return
		}
		if to := q.Get("to"); to != "" {
			http.Redirect(w, r, to, http.StatusTemporaryRedirect)
			return
		}
		n, _ := strconv.Atoi(q.Get("n"))
		if q.Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		if s, _ := strconv.Atoi(q.Get("status")); s != 0 {
			w.WriteHeader(s)
		}
		w.Write([]byte(strings.Repeat("x", n)))
	}
}

// TestLimited: every answer is bounded by what the first request of its
// redirect chain fetches — manifests and referrers lists, blobs, tokens,
// the ping —, refused by Content-Length before anything is read, or while
// it is read when the length is absent; a redirect to another path or
// another host never changes the bound; error bodies are cut off; redirect
// chains stop after MaxRedirects.
func TestLimited(t *testing.T) {
	t.Parallel()
	var hops atomic.Int32
	srv := httptest.NewTLSServer(bodies(&hops))
	defer srv.Close()
	other := httptest.NewTLSServer(bodies(&hops))
	defer other.Close()
	client := &http.Client{
		Transport: limited{inner: srv.Client().Transport},
		// go-containerregistry's CheckRedirect, which has no count limit.
		CheckRedirect: func(*http.Request, []*http.Request) error { return nil },
	}
	huge := strconv.Itoa(MaxManifestBytes + 1)
	tests := []struct {
		path    string
		tooBig  bool // refused by Content-Length
		readErr bool // refused while reading
		read    int  // bytes read otherwise
	}{
		{path: "/v2/app/manifests/v1?n=" + strconv.Itoa(MaxManifestBytes), read: MaxManifestBytes},
		{path: "/v2/app/manifests/v1?n=" + huge, tooBig: true},
		{path: "/v2/app/manifests/v1?chunked=1&n=" + huge, readErr: true},
		{path: "/v2/org/manifests/app/manifests/v1?n=" + huge, tooBig: true},
		{path: "/v2/app/referrers/sha256:ab?n=" + huge, tooBig: true},
		{path: "/v2/app/blobs/sha256:ab?n=" + strconv.Itoa(MaxBlobBytes+1), tooBig: true},
		{path: "/v2/app/blobs/sha256:ab?chunked=1&n=" + strconv.Itoa(MaxBlobBytes+1), readErr: true},
		{path: "/v2/app/blobs/sha256:ab?n=1000", read: 1000},
		{path: "/v2/?n=" + strconv.Itoa(MaxPingBytes+1), tooBig: true},
		{path: "/token?n=" + strconv.Itoa(MaxTokenBytes+1), tooBig: true},
		{path: "/token?chunked=1&n=" + strconv.Itoa(MaxTokenBytes+1), readErr: true},
		{path: "/token?n=100", read: 100},
		{path: "/v2/app/tags/list?n=" + huge, tooBig: true},
		// Redirects keep the first request's class.
		{path: "/v2/app/manifests/v1?to=" + esc("/v2/app/blobs/sha256:ab?n="+huge), tooBig: true},
		{path: "/v2/app/manifests/v1?to=" + esc("/huge?chunked=1&n="+huge), readErr: true},
		{path: "/v2/app/manifests/v1?to=" + esc(other.URL+"/v2/app/blobs/sha256:ab?chunked=1&n="+huge), readErr: true},
		{path: "/token?to=" + esc("/v2/app/manifests/v1?n=100000"), tooBig: true},
		// Error bodies are cut off, not refused.
		{path: "/v2/app/manifests/v1?status=500&n=" + huge, read: MaxErrorBytes},
		{path: "/v2/app/manifests/v1?status=404&chunked=1&n=" + huge, read: MaxErrorBytes},
	}
	for _, tc := range tests {
		resp, err := client.Get(srv.URL + tc.path)
		if tc.tooBig {
			if _, ok := errors.AsType[*TooLargeError](err); !ok {
				t.Errorf("%s: %v, want a TooLargeError", tc.path, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, ok := errors.AsType[*TooLargeError](err); ok != tc.readErr {
			t.Errorf("%s: read error %v, want a TooLargeError: %v", tc.path, err, tc.readErr)
		}
		if !tc.readErr && len(b) != tc.read {
			t.Errorf("%s: read %d bytes, want %d", tc.path, len(b), tc.read)
		}
	}

	_, err := client.Get(srv.URL + "/v2/loop/manifests/v1")
	if _, ok := errors.AsType[*RedirectError](err); !ok {
		t.Errorf("redirect loop: %v, want a RedirectError", err)
	}
	if n := hops.Load(); n != MaxRedirects+1 {
		t.Errorf("redirect loop: %d requests, want %d", n, MaxRedirects+1)
	}
}

func esc(s string) string { return strings.NewReplacer("?", "%3F", "&", "%26", "=", "%3D").Replace(s) }

// TestScheme: plain HTTP only to listed registries (and there, HTTPS
// requests go over plain HTTP), never with credentials, never after a
// redirect from HTTPS.
func TestScheme(t *testing.T) {
	t.Parallel()
	var hops atomic.Int32
	plain := httptest.NewServer(bodies(&hops))
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewTLSServer(bodies(&hops))
	t.Cleanup(tlsSrv.Close)
	listed := strings.TrimPrefix(plain.URL, "http://")
	tests := []struct {
		name     string
		insecure []string
		url      string
		auth     bool
		refused  string
		status   int
	}{
		{name: "plain HTTP to an unlisted registry", url: plain.URL + "/v2/", refused: "not listed in the policy's insecureRegistries"},
		{name: "plain HTTP to a listed registry", insecure: []string{listed}, url: plain.URL + "/v2/"},
		{name: "listed: https requests go over plain HTTP", insecure: []string{listed}, url: "https://" + listed + "/v2/"},
		{name: "listed, other port", insecure: []string{"127.0.0.1:1"}, url: plain.URL + "/v2/", refused: "not listed"},
		{name: "credentials to a listed registry are taken off", insecure: []string{listed}, url: plain.URL + "/v2/", auth: true},
		{name: "user info to a listed registry is taken off", insecure: []string{listed}, url: "http://u:p@" + listed + "/v2/"},
		{name: "a listed registry asking for credentials", insecure: []string{listed}, url: plain.URL + "/v2/?status=401", auth: true, refused: "never sends credentials over plain HTTP"},
		{name: "a listed registry forbidding", insecure: []string{listed}, url: "https://u:p@" + listed + "/v2/?status=403", refused: "never sends credentials over plain HTTP"},
		{name: "a listed registry answering 401 to an anonymous request", insecure: []string{listed}, url: plain.URL + "/v2/?status=401", status: 401},
		{name: "a token realm on a listed host", insecure: []string{listed}, url: plain.URL + "/token", refused: "no token realm"},
		{name: "a token realm over HTTPS", url: tlsSrv.URL + "/token", auth: true},
		{name: "HTTPS", url: tlsSrv.URL + "/v2/", auth: true},
		{name: "redirect from HTTPS to a listed HTTP host", insecure: []string{listed}, url: tlsSrv.URL + "/v2/?to=" + esc(plain.URL+"/v2/"), refused: "redirected there from HTTPS"},
		{name: "redirect from HTTPS to HTTP", url: tlsSrv.URL + "/v2/?to=" + esc(plain.URL+"/v2/"), refused: "not listed"},
		{name: "redirect from a listed HTTP host to HTTPS", insecure: []string{listed}, url: plain.URL + "/v2/?to=" + esc(tlsSrv.URL+"/v2/")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			inner := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				return tlsSrv.Client().Transport.RoundTrip(r)
			})
			c := &http.Client{Transport: limited{inner: inner, insecure: NewInsecure(tc.insecure...)}}
			req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
			if tc.auth {
				req.Header.Set("Authorization", "Basic dTpw")
			}
			resp, err := c.Do(req)
			if tc.refused != "" {
				ie, ok := errors.AsType[*InsecureError](err)
				if !ok || !strings.Contains(ie.Error(), tc.refused) {
					t.Fatalf("%v, want an InsecureError saying %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if want := cmp.Or(tc.status, http.StatusOK); resp.StatusCode != want {
				t.Errorf("status %d, want %d", resp.StatusCode, want)
			}
			if plainHTTP := resp.Request.URL.Host == listed; plainHTTP && resp.Header.Get("X-Authorized") != "" {
				t.Error("credentials went over plain HTTP")
			} else if !plainHTTP && tc.auth && resp.Header.Get("X-Authorized") == "" {
				t.Error("credentials did not go over HTTPS")
			}
			if resp.Request.URL.Scheme != req.URL.Scheme && resp.Request.URL.Host == req.URL.Host {
				t.Errorf("callers see scheme %s, asked for %s", resp.Request.URL.Scheme, req.URL.Scheme)
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

package registry

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// TestLimited: manifests and referrers lists over the limit are refused by
// their Content-Length before anything is read, or while they are read
// when the length is absent; blobs (bounded by ReadBlob) and answers
// under the limit pass; redirect chains stop after MaxRedirects.
func TestLimited(t *testing.T) {
	t.Parallel()
	const max = 1000
	var hops atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v2/loop/") {
			hops.Add(1)
			http.Redirect(w, r, r.URL.Path+"?"+strconv.Itoa(int(hops.Load())), http.StatusTemporaryRedirect)
			return
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		w.Write([]byte(strings.Repeat("x", n)))
	}))
	defer srv.Close()
	client := &http.Client{
		Transport: limited{inner: http.DefaultTransport, max: max},
		// go-containerregistry's CheckRedirect, which has no count limit.
		CheckRedirect: func(*http.Request, []*http.Request) error { return nil },
	}
	tests := []struct {
		path    string
		tooBig  bool
		readErr bool
	}{
		{path: "/v2/app/manifests/v1?n=1000"},
		{path: "/v2/app/manifests/v1?n=1001", tooBig: true},
		{path: "/v2/app/manifests/v1?n=5000&chunked=1", readErr: true},
		{path: "/v2/app/referrers/sha256:ab?n=5000", tooBig: true},
		{path: "/v2/app/blobs/sha256:ab?n=5000"},
		{path: "/v2/?n=5000"},
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
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if _, ok := errors.AsType[*TooLargeError](err); ok != tc.readErr {
			t.Errorf("%s: read error %v, want a TooLargeError: %v", tc.path, err, tc.readErr)
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

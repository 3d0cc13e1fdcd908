package testutil

import (
	"net/http"
	"strings"
)

// HideFromAnonymous makes the registry answer as private registries that
// hide what a caller may not read do: the /v2/ ping challenges for HTTP
// basic credentials, requests with user:pass are served, requests without
// credentials get 404 NAME_UNKNOWN (not 401), and wrong credentials 401.
// Push before calling it.
func (r *Registry) HideFromAnonymous(user, pass string) {
	f := func(w http.ResponseWriter, req *http.Request) bool {
		u, p, ok := req.BasicAuth()
		switch {
		case ok && u == user && p == pass:
			return false
		case ok || strings.TrimSuffix(req.URL.Path, "/") == "/v2":
			w.Header().Set("WWW-Authenticate", `Basic realm="testutil"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
		default:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}`))
		}
		return true
	}
	r.intercept.Store(&f)
}

// Authorizations returns the Authorization header of each request since
// the last Reset ("" for a request without one).
func (r *Registry) Authorizations() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.authz...)
}

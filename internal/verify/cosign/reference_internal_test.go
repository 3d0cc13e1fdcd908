package cosign

import (
	"slices"
	"strings"
	"testing"
)

// TestReferenceNormalised checks that the repository a signature names is
// compared in normalised form: every spelling the runtime pulls
// identically is the same repository, and nothing else is.
func TestReferenceNormalised(t *testing.T) {
	t.Parallel()
	tests := []struct {
		repo   string
		signed []string
		accept string // repository Accept admits
		ok     bool
	}{
		{"docker.io/library/nginx", []string{"nginx"}, "", true},
		{"docker.io/library/nginx", []string{"docker.io/nginx:1.25"}, "", true},
		{"docker.io/library/nginx", []string{"index.docker.io/library/nginx"}, "", true},
		{"docker.io/library/nginx", []string{"registry-1.docker.io/library/nginx@sha256:" + strings.Repeat("a", 64)}, "", true},
		{"docker.io/library/nginx", []string{"Docker.IO/library/nginx"}, "", true},
		{"docker.io/library/nginx", []string{"docker.io/acme/nginx"}, "", false},
		{"docker.io/library/nginx", []string{"nginx.example/library/nginx"}, "", false},
		{"ghcr.io/acme/app", []string{"GHCR.io/acme/app:v1"}, "", true},
		{"ghcr.io/acme/app", []string{"ghcr.io/acme/app/debug"}, "", false},
		{"ghcr.io/acme/app", []string{"ghcr.io/acme"}, "", false},
		{"ghcr.io/acme/app", []string{"ghcr.io/acme/ap"}, "", false},
		{"mirror.example/acme/app", []string{"ghcr.io/acme/app"}, "ghcr.io/acme/app", true},
		{"mirror.example/acme/app", []string{"ghcr.io/acme/other"}, "ghcr.io/acme/app", false},
		{"ghcr.io/acme/app", []string{"", "ghcr.io/acme/app"}, "", true},
		{"ghcr.io/acme/app", nil, "", false},
		{"ghcr.io/acme/app", []string{strings.Repeat("x", 10000)}, "", false},
		{"ghcr.io/acme/app", slices.Repeat([]string{strings.Repeat("x", 10000), "ghcr.io/acme/other"}, 1000), "", false},
		{"ghcr.io/acme/app", append(slices.Repeat([]string{"ghcr.io/acme/other"}, 1000), "ghcr.io/acme/app"), "", true},
	}
	for _, tc := range tests {
		c := &ReferenceCheck{}
		if tc.accept != "" {
			c.Accept = func(r string) bool { return r == tc.accept }
		}
		reason := c.accepts(tc.repo, tc.signed)
		if (reason == "") != tc.ok {
			t.Errorf("repository %s, signed for %q: reason %q, want ok=%v", tc.repo, tc.signed, reason, tc.ok)
		}
		if len(reason) > (maxNamed+1)*(maxNamedLen+100) {
			t.Errorf("reason of %d bytes: an attacker's name is not truncated", len(reason))
		}
	}
}

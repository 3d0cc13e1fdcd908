package imageref

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	d := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		in, norm, registry, name, tag, digest string
	}{
		{"nginx", "docker.io/library/nginx:latest", "docker.io", "docker.io/library/nginx", "latest", ""},
		{"nginx:1.25", "docker.io/library/nginx:1.25", "docker.io", "docker.io/library/nginx", "1.25", ""},
		{"library/nginx", "docker.io/library/nginx:latest", "docker.io", "docker.io/library/nginx", "latest", ""},
		{"docker.io/nginx", "docker.io/library/nginx:latest", "docker.io", "docker.io/library/nginx", "latest", ""},
		{"index.docker.io/library/nginx", "docker.io/library/nginx:latest", "docker.io", "docker.io/library/nginx", "latest", ""},
		{"Docker.IO/acme/app:v1", "docker.io/acme/app:v1", "docker.io", "docker.io/acme/app", "v1", ""},
		{"acme/app@" + d, "docker.io/acme/app@" + d, "docker.io", "docker.io/acme/app", "", d},
		{"acme/app:v1@" + d, "docker.io/acme/app:v1@" + d, "docker.io", "docker.io/acme/app", "v1", d},
		{"GHCR.io/acme/app:V1", "ghcr.io/acme/app:V1", "ghcr.io", "ghcr.io/acme/app", "V1", ""},
		{"localhost:5000/app", "localhost:5000/app:latest", "localhost:5000", "localhost:5000/app", "latest", ""},
		{"127.0.0.1:5000/a/b/c:tag", "127.0.0.1:5000/a/b/c:tag", "127.0.0.1:5000", "127.0.0.1:5000/a/b/c", "tag", ""},
		{"[::1]:5000/app:v1", "[::1]:5000/app:v1", "[::1]:5000", "[::1]:5000/app", "v1", ""},
		// Spellings a container runtime reaches the same registry by.
		{"ghcr.io:443/acme/app:v1", "ghcr.io/acme/app:v1", "ghcr.io", "ghcr.io/acme/app", "v1", ""},
		{"ghcr.io:80/acme/app:v1", "ghcr.io/acme/app:v1", "ghcr.io", "ghcr.io/acme/app", "v1", ""},
		{"GHCR.io:00443/acme/app:v1", "ghcr.io/acme/app:v1", "ghcr.io", "ghcr.io/acme/app", "v1", ""},
		{"ghcr.io:8443/acme/app", "ghcr.io:8443/acme/app:latest", "ghcr.io:8443", "ghcr.io:8443/acme/app", "latest", ""},
		{"localhost:05000/app", "localhost:5000/app:latest", "localhost:5000", "localhost:5000/app", "latest", ""},
		{"docker.io:443/nginx", "docker.io/library/nginx:latest", "docker.io", "docker.io/library/nginx", "latest", ""},
		{"index.docker.io:443/nginx", "docker.io/library/nginx:latest", "docker.io", "docker.io/library/nginx", "latest", ""},
		{"registry-1.docker.io/nginx:1", "docker.io/library/nginx:1", "docker.io", "docker.io/library/nginx", "1", ""},
		{"REGISTRY-1.DOCKER.IO:80/acme/app", "docker.io/acme/app:latest", "docker.io", "docker.io/acme/app", "latest", ""},
		{"index.docker.io:5000/nginx", "index.docker.io:5000/nginx:latest", "index.docker.io:5000", "index.docker.io:5000/nginx", "latest", ""},
		{"[0:0::0001]:5000/app", "[::1]:5000/app:latest", "[::1]:5000", "[::1]:5000/app", "latest", ""},
		{"[FE80::A]:443/app", "[fe80::a]/app:latest", "[fe80::a]", "[fe80::a]/app", "latest", ""},
		{"[::ffff:7f00:1]:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000", "127.0.0.1:5000/app", "latest", ""},
		{"127.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000", "127.0.0.1:5000/app", "latest", ""},
		{"0x7f.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000", "127.0.0.1:5000/app", "latest", ""},
		{"2130706433:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000", "127.0.0.1:5000/app", "latest", ""},
		{"0177.0.0.01:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000", "127.0.0.1:5000/app", "latest", ""},
		{"10.1.1.1.1:5000/app", "10.1.1.1.1:5000/app:latest", "10.1.1.1.1:5000", "10.1.1.1.1:5000/app", "latest", ""},
		{"08.1:5000/app", "08.1:5000/app:latest", "08.1:5000", "08.1:5000/app", "latest", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			r, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != tc.norm || r.Registry() != tc.registry || r.Name() != tc.name || r.Tag != tc.tag || r.Digest != tc.digest {
				t.Errorf("got %q reg=%q name=%q tag=%q digest=%q", r.String(), r.Registry(), r.Name(), r.Tag, r.Digest)
			}
			if r.Original != tc.in {
				t.Errorf("Original = %q", r.Original)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", " nginx", "nginx ", "NGINX", "ghcr.io/Acme/app", "nginx@sha256:abc", "nginx@md5:" + strings.Repeat("a", 32),
		"nginx:", "nginx:-bad", "a//b", "nginx@", strings.Repeat("a", 600), "nginx:" + strings.Repeat("t", 129),
		"ghcr.io/acme/app:v1:v2", "ghcr.io/acme/app@sha256:" + strings.Repeat("g", 64),
		"ghcr.іo/acme/app", "ｇhcr.io/acme/app", "ghcr.io./acme/app", "-ghcr.io/acme/app", "ghcr..io/acme/app", "ghcr.io:/acme/app", "ghcr_io.com:5000/acme/app",
		"ghcr.io:0/acme/app", "ghcr.io:65536/acme/app", "ghcr.io:99999999999999999999/acme/app", "[::1::2]:5000/app", "[]:5000/app",
	} {
		if r, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %q, want error", in, r.String())
		} else if !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) error does not wrap ErrInvalid: %v", in, err)
		}
	}
}

func TestPinned(t *testing.T) {
	t.Parallel()
	d := "sha256:" + strings.Repeat("cd", 32)
	r, err := Parse("nginx:1.25")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Pinned(d); got != "docker.io/library/nginx@"+d {
		t.Errorf("Pinned = %q", got)
	}
	dr, err := r.DigestRef(d)
	if err != nil || dr.DigestStr() != d || dr.Context().Name() != "index.docker.io/library/nginx" {
		t.Errorf("DigestRef = %v, %v", dr, err)
	}
}

// FuzzParse: a parsed reference re-parses to itself (normalisation is
// idempotent), so matching and registry access see the same name.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"nginx", "ghcr.io/a/b:c", "localhost:5000/x@sha256:" + strings.Repeat("a", 64), "[::1]:5000/a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		r2, err := Parse(r.String())
		if err != nil {
			t.Fatalf("normalised %q of %q does not parse: %v", r.String(), s, err)
		}
		if r2.String() != r.String() {
			t.Fatalf("not idempotent: %q → %q → %q", s, r.String(), r2.String())
		}
	})
}

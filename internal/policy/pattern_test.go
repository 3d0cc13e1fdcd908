package policy

import (
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/imageref"
)

func TestPatternMatch(t *testing.T) {
	t.Parallel()
	dg := "sha256:" + "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	const (
		yes = "yes" // applies, whatever the tag names
		no  = "no"  // never applies
		tag = "tag" // applies or not depending on what the tag names
	)
	tests := []struct {
		pattern string
		image   string
		want    string
	}{
		{"docker.io/library/nginx", "nginx", yes},
		{"docker.io/library/nginx", "nginx:1.25", yes},
		{"docker.io/library/nginx", "nginx@" + dg, yes},
		{"docker.io/library/nginx", "nginx:1.25@" + dg, yes},
		{"docker.io/library/nginx", "nginx-evil", no},
		{"docker.io/library/nginx", "docker.io/library/nginx/sub", no},
		{"nginx", "docker.io/library/nginx:1", yes},
		{"nginx", "index.docker.io/library/nginx:1", yes},
		{"docker.io/nginx", "nginx:1", yes},
		{"myorg/app", "docker.io/myorg/app:1", yes},
		{"myorg/*", "docker.io/myorg/app:1", yes},
		{"myorg/*", "docker.io/myorg/team/app:1", no},
		{"myorg/**", "docker.io/myorg/team/app:1", yes},
		{"docker.io/library/nginx:1.25", "nginx:1.25", yes},
		{"docker.io/library/nginx:1.25", "nginx:1.25@" + dg, tag}, // only if 1.25 names dg
		{"docker.io/library/nginx:1.25", "nginx@" + dg, no},       // a digest alone has no tag
		{"docker.io/library/nginx:1.25", "nginx:1.26", no},
		{"docker.io/library/nginx:1.25", "nginx:1.250", no},
		{"docker.io/library/nginx:1.2?", "nginx:1.25", yes},
		{"docker.io/library/*:*", "nginx:1.25", yes},
		{"docker.io/library/*:*", "nginx@" + dg, no},
		{"**", "ghcr.io/a/b/c:1", yes},
		{"**", "ghcr.io/a/b/c@" + dg, yes},
		{"*:*", "ghcr.io/a/b:1", no},
		{"ghcr.io/org/*", "ghcr.io/org/app:v1", yes},
		{"ghcr.io/org/*", "ghcr.io/org.evil/app:v1", no},
		{"ghcr.io/org/*", "ghcr.io.evil.com/org/app:v1", no},
		{"ghcr.io/org/*", "evil.com/ghcr.io/org/app:v1", no},
		{"GHCR.IO/org/*", "ghcr.io/org/app", yes},
		{"*.gcr.io/**", "eu.gcr.io/p/app:1", yes},
		{"*.gcr.io/**", "gcr.io/p/app:1", no},
		{"ghcr.io/acme/**debug*", "ghcr.io/acme/app:v1-debug", no}, // "**" does not reach into the tag
		{"ghcr.io/acme/**:*debug*", "ghcr.io/acme/app:v1-debug", yes},
		{"localhost:5000/app", "localhost:5000/app:v1", yes},
		{"localhost:5000/app", "localhost:5001/app:v1", no},
		{"localhost:05000/app", "localhost:5000/app:v1", yes},
		{"registry.example.com/app@" + dg, "registry.example.com/app@" + dg, yes},
		{"registry.example.com/app@" + dg, "registry.example.com/app:v1@" + dg, yes},
		{"registry.example.com/app@" + dg, "registry.example.com/app:v1", tag}, // only if v1 names dg
		{"registry.example.com/app@" + dg, "registry.example.com/app@sha256:" + strings.Repeat("0", 64), no},
		{"registry.example.com/app:v1@" + dg, "registry.example.com/app:v1", tag},
		{"registry.example.com/app:v1@" + dg, "registry.example.com/app:v1@" + dg, tag},
		{"registry.example.com/app:v1@" + dg, "registry.example.com/app@" + dg, no},
		// Registry spellings: one registry, one identity.
		{"ghcr.io/org/*", "ghcr.io:443/org/app:v1", yes},
		{"ghcr.io:443/org/*", "ghcr.io/org/app:v1", yes},
		{"ghcr.io/org/*", "ghcr.io:80/org/app:v1", yes},
		{"ghcr.io/org/*", "ghcr.io:8443/org/app:v1", no},
		{"ghcr.io:*/org/*", "ghcr.io:8443/org/app:v1", yes},
		{"ghcr.io:*/org/*", "ghcr.io:443/org/app:v1", no}, // a wildcard port: ports other than the defaults
		{"ghcr.io*/org/*", "ghcr.io:443/org/app:v1", yes},
		{"*.gcr.io:443/**", "eu.gcr.io/p/app:1", yes},
		{"docker.io:443/nginx", "registry-1.docker.io/library/nginx:1", yes},
		{"registry-1.docker.io/nginx", "nginx:1", yes},
		{"index.docker.io:5000/nginx", "nginx:1", no},
		{"[::1]:5000/app", "[0:0::1]:5000/app:v1", yes},
		{"[0:0::1]:5000/app", "[::1]:5000/app:v1", yes},
		{"127.0.0.1:5000/app", "127.1:5000/app:v1", yes},
		{"127.0.0.1:5000/app", "[::ffff:7f00:1]:5000/app:v1", yes},
		{"10.*.*.*:5000/app", "0xa.1.1.1:5000/app:v1", yes},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" "+tc.image, func(t *testing.T) {
			t.Parallel()
			p, err := CompilePattern(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := imageref.Parse(tc.image)
			if err != nil {
				t.Fatal(err)
			}
			got := no
			if p.Match(ref) {
				got = yes
				if p.dependsOnTag(ref.Digest) {
					got = tag
				}
			}
			if got != tc.want {
				t.Errorf("%s (normalised %s) for %s: %s, want %s", tc.pattern, p.Normalised(), ref, got, tc.want)
			}
		})
	}
}

func TestPatternInvalid(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"", "a b", "ghcr.io/[ab]", "x/{a,b}", "a//b", "/a", "a/", "a/***", "a@b@c", string(make([]byte, 600)),
		"ghcr.io/app@sha256:*", "ghcr.io/app@sha256:ab", "ghcr.io/app@*", "ghcr.io/app:", "ghcr.io:0/app", "ghcr.io:70000/app",
		"[::1]/app:[ab]", "[::*]:5000/app", "[zz::1]/app", "ghcr_io.com/app", "a/[::1]/app", "ghcr.io/app:v1:v2", "ghcr.io/a:b/c",
	} {
		if _, err := CompilePattern(s); err == nil {
			t.Errorf("CompilePattern(%q) succeeded, want error", s)
		}
	}
}

func TestMostSpecific(t *testing.T) {
	t.Parallel()
	tests := []struct{ a, b string }{ // a is more specific than b
		{"docker.io/library/nginx", "docker.io/library/*"},
		{"docker.io/library/*", "docker.io/*"},
		{"docker.io/library/*", "**"},
		{"ghcr.io/org/app", "ghcr.io/org/a*"},
		{"ghcr.io/org/app*", "ghcr.io/org/a*"},
		{"ghcr.io/org/app:v1", "ghcr.io/org/app"},
		{"ghcr.io/*/app", "*/org/app"},
		{"ghcr.io/org/a*b", "ghcr.io/org/a*"},
		// A pattern naming a digest names one content: it comes first.
		{"**@sha256:" + strings.Repeat("ab", 32), "ghcr.io/org/app:v1"},
		{"ghcr.io/org/app@sha256:" + strings.Repeat("ab", 32), "**@sha256:" + strings.Repeat("ab", 32)},
		{"ghcr.io/org/app:v1@sha256:" + strings.Repeat("ab", 32), "ghcr.io/org/app@sha256:" + strings.Repeat("ab", 32)},
	}
	for _, tc := range tests {
		a, _ := CompilePattern(tc.a)
		b, _ := CompilePattern(tc.b)
		if !a.moreSpecific(b) || b.moreSpecific(a) {
			t.Errorf("%q should be more specific than %q", tc.a, tc.b)
		}
	}
}

func TestDocuments(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{
		"a: 1\n":                       1,
		"---\na: 1\n":                  1,
		"# c\n---\na: 1\n---\n":        1,
		"a: 1\n---\nb: 2\n":            2,
		"a: 1\n--- \n# only comment\n": 1,
		"":                             0,
		"a: |\n  ---x\n":               1,
	} {
		if got := documents([]byte(in)); got != want {
			t.Errorf("documents(%q) = %d, want %d", in, got, want)
		}
	}
}

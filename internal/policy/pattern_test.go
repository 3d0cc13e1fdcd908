package policy

import (
	"testing"

	"github.com/signet-dev/signet/internal/imageref"
)

func TestPatternMatch(t *testing.T) {
	t.Parallel()
	dg := "sha256:" + "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	tests := []struct {
		pattern string
		image   string
		want    bool
	}{
		{"docker.io/library/nginx", "nginx", true},
		{"docker.io/library/nginx", "nginx:1.25", true},
		{"docker.io/library/nginx", "nginx@" + dg, true},
		{"docker.io/library/nginx", "nginx:1.25@" + dg, true},
		{"docker.io/library/nginx", "nginx-evil", false},
		{"docker.io/library/nginx", "docker.io/library/nginx/sub", false},
		{"nginx", "docker.io/library/nginx:1", true},
		{"nginx", "index.docker.io/library/nginx:1", true},
		{"docker.io/nginx", "nginx:1", true},
		{"myorg/app", "docker.io/myorg/app:1", true},
		{"myorg/*", "docker.io/myorg/app:1", true},
		{"myorg/*", "docker.io/myorg/team/app:1", false},
		{"myorg/**", "docker.io/myorg/team/app:1", true},
		{"docker.io/library/nginx:1.25", "nginx:1.25", true},
		{"docker.io/library/nginx:1.25", "nginx:1.25@" + dg, true},
		{"docker.io/library/nginx:1.25", "nginx:1.26", false},
		{"docker.io/library/nginx:1.25", "nginx:1.250", false},
		{"docker.io/library/nginx:1.2?", "nginx:1.25", true},
		{"docker.io/library/*:*", "nginx:1.25", true},
		{"docker.io/library/*:*", "nginx@" + dg, true},
		{"**", "ghcr.io/a/b/c:1", true},
		{"*:*", "ghcr.io/a/b:1", false},
		{"ghcr.io/org/*", "ghcr.io/org/app:v1", true},
		{"ghcr.io/org/*", "ghcr.io/org.evil/app:v1", false},
		{"ghcr.io/org/*", "ghcr.io.evil.com/org/app:v1", false},
		{"ghcr.io/org/*", "evil.com/ghcr.io/org/app:v1", false},
		{"GHCR.IO/org/*", "ghcr.io/org/app", true},
		{"*.gcr.io/**", "eu.gcr.io/p/app:1", true},
		{"*.gcr.io/**", "gcr.io/p/app:1", false},
		{"localhost:5000/app", "localhost:5000/app:v1", true},
		{"localhost:5000/app", "localhost:5001/app:v1", false},
		{"registry.example.com/app@" + dg, "registry.example.com/app@" + dg, true},
		{"registry.example.com/app@" + dg, "registry.example.com/app:v1", false},
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
			if got := p.Match(ref.String()); got != tc.want {
				t.Errorf("Match(%s) = %v, want %v (regexp %s)", ref.String(), got, tc.want, p.re)
			}
		})
	}
}

func TestPatternInvalid(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "a b", "ghcr.io/[ab]", "x/{a,b}", "a//b", "/a", "a/", "a/***", "a@b@c", string(make([]byte, 600))} {
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

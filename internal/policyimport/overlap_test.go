package policyimport

import (
	"testing"

	"github.com/signet-dev/signet/internal/policy"
)

// patterns compiles two patterns.
func patterns(t *testing.T, a, b string) (*policy.Pattern, *policy.Pattern) {
	t.Helper()
	pa, err := policy.CompilePattern(a)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := policy.CompilePattern(b)
	if err != nil {
		t.Fatal(err)
	}
	return pa, pb
}

func TestOverlap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"ghcr.io/app*", "ghcr.io/*-debug*", true}, // ghcr.io/app-debug
		{"ghcr.io/app*", "ghcr.io/*/x", false},
		{"ghcr.io/**", "ghcr.io/a/b/c", true},
		{"ghcr.io/*", "ghcr.io/a/b", false},
		{"**", "docker.io/library/nginx:1.25", true},
		{"ghcr.io/a:v1*", "ghcr.io/a:*-rc", true},
		{"ghcr.io/a:v1", "ghcr.io/a:v2", false},
		{"ghcr.io/a:v1", "ghcr.io/a", true},
		{"ghcr.io/a?c", "ghcr.io/a/c", false},
		{"*.gcr.io/**", "eu.gcr.io/p/app", true},
		{"*.gcr.io/**", "ghcr.io/p/app", false},
		{"ghcr.io/a@" + dg, "ghcr.io/a@sha256:" + "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false},
		{"ghcr.io/a@" + dg, "ghcr.io/*", true},
	} {
		a, b := patterns(t, tc.a, tc.b)
		if got := overlap(a, b); got != tc.want {
			t.Errorf("overlap(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := overlap(b, a); got != tc.want {
			t.Errorf("overlap(%s, %s) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}

func TestContains(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"docker.io/library/**", "nginx:*", true},
		{"docker.io/library/**", "docker.io/library/nginx", true},
		{"docker.io/library/*", "docker.io/library/**", false},
		{"ghcr.io/**", "ghcr.io/a/*/b?", true},
		{"ghcr.io/*", "ghcr.io/a*", true},
		{"ghcr.io/a*", "ghcr.io/*", false},
		{"ghcr.io/app:*", "ghcr.io/app", false},
		{"ghcr.io/app", "ghcr.io/app:v1", true},
		{"ghcr.io/app:v*", "ghcr.io/app:v1*", true},
		{"**", "ghcr.io/app@" + dg, true},
		{"ghcr.io/app@" + dg, "ghcr.io/app", false},
		{"*.gcr.io/**", "eu.gcr.io/p/*", true},
		{"*.gcr.io/**", "**", false},
	} {
		a, b := patterns(t, tc.a, tc.b)
		if got := contains(a, b); got != tc.want {
			t.Errorf("contains(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

package policyimport

import (
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/policy"
)

// patternsMatch reports whether any of pats matches image by signet's
// own pattern code.
func patternsMatch(t *testing.T, pats []string, image string) bool {
	t.Helper()
	ref, err := imageref.Parse(image)
	if err != nil {
		t.Fatalf("image %s: %v", image, err)
	}
	for _, s := range pats {
		p, err := policy.CompilePattern(s)
		if err != nil {
			t.Fatalf("pattern %q does not compile: %v", s, err)
		}
		if p.Match(ref) {
			return true
		}
	}
	return false
}

// connaisseurMatch is Connaisseur's matching, as its documentation and
// code describe it, to check the table below against: the pattern, with
// "*" added before and after unless already there, as a glob where "*"
// crosses "/", over go-containerregistry's full name of the image (Docker
// Hub as index.docker.io) with tag and digest.
func connaisseurMatch(t *testing.T, pattern, image string) bool {
	t.Helper()
	ref, err := name.ParseReference(image)
	if err != nil {
		t.Fatal(err)
	}
	full := ref.Context().Name()
	if tag, ok := ref.(name.Tag); ok {
		full += ":" + tag.TagStr()
	} else {
		before, _, _ := strings.Cut(image, "@")
		if i := strings.LastIndexByte(before, ':'); i > strings.LastIndexByte(before, '/') {
			full += ":" + before[i+1:]
		}
		full += "@" + ref.Identifier()
	}
	if !strings.HasPrefix(pattern, "*") {
		pattern = "*" + pattern
	}
	if !strings.HasSuffix(pattern, "*") {
		pattern += "*"
	}
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(full)
}

const dg = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestConnaisseurPatterns runs Connaisseur's documented patterns through
// the translation and signet's matcher: the same images match, but where
// Connaisseur's implicit "*" around a pattern matched more (anchored: the
// difference the converter notes).
func TestConnaisseurPatterns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, image string
		match          bool // in Connaisseur
		anchored       bool // Connaisseur's implicit "*" matched; signet's anchored pattern does not
	}{
		{"*:*", "nginx", true, false},
		{"*:*", "ghcr.io/acme/app:v1", true, false},
		{"*:*", "ghcr.io/acme/app@" + dg, true, false},
		{"docker.io/library/*:*", "nginx", true, false},
		{"docker.io/library/*:*", "nginx:1.25", true, false},
		{"docker.io/library/*:*", "docker.io/library/nginx@" + dg, true, false},
		{"docker.io/library/*:*", "index.docker.io/library/nginx:1.25@" + dg, true, false},
		{"docker.io/library/*:*", "acme/app:v1", false, false},
		{"docker.io/library/*:*", "ghcr.io/library/nginx:1", false, false},
		{"docker.io/library/*:*", "mirror.example/docker.io/library/nginx:1", true, true},
		{"docker.io/securesystemsengineering/*:*", "securesystemsengineering/testimage:signed", true, false},
		{"docker.io/securesystemsengineering/*:*", "securesystemsengineering/testimage@" + dg, true, false},
		{"k8s.gcr.io/*:*", "k8s.gcr.io/pause:3.9", true, false},
		{"k8s.gcr.io/*:*", "k8s.gcr.io/sig/pause:3.9", true, false}, // "*" crosses "/"
		{"k8s.gcr.io/*:*", "registry.k8s.io/pause:3.9", false, false},
		{"ghcr.io/acme/app:debug-*", "ghcr.io/acme/app:debug-1", true, false},
		{"ghcr.io/acme/app:debug-*", "ghcr.io/acme/app:v1", false, false},
		{"ghcr.io/acme/app:debug-*", "ghcr.io/acme/app@" + dg, false, false},
		{"nginx:*", "nginx:1.25", true, false},
		{"nginx:*", "nginx@" + dg, false, false},
		{"nginx:*", "ghcr.io/acme/nginx:1", true, true},
		{"ghcr.io/acme/app", "ghcr.io/acme/app:v1", true, false},
		{"ghcr.io/acme/app", "ghcr.io/acme/app@" + dg, true, false},
		{"ghcr.io/acme/app", "ghcr.io/acme/app-debug:v1", true, true},
		{"ghcr.io/acme/app", "ghcr.io/acme/other:v1", false, false},
		{"ghcr.io/acme/{app,web}:*", "ghcr.io/acme/web:v2", true, false},
		{"ghcr.io/acme/{app,web}:*", "ghcr.io/acme/db:v2", false, false},
		{"ghcr.io/acme/app-[0-9]:*", "ghcr.io/acme/app-7:v2", true, false},
		{"ghcr.io/acme/app-[0-9]:*", "ghcr.io/acme/app-x:v2", false, false},
		{"ghcr.io/acme/app@" + dg, "ghcr.io/acme/app@" + dg, true, false},
	} {
		if strings.ContainsAny(tc.pattern, "{[") {
			// The oracle knows no alternatives; the table says.
		} else if got := connaisseurMatch(t, tc.pattern, tc.image); got != tc.match {
			t.Fatalf("table: Connaisseur's %q on %s = %v, the table says %v", tc.pattern, tc.image, got, tc.match)
		}
		pats, _, err := connaisseurPatterns(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		want := tc.match && !tc.anchored
		if got := patternsMatch(t, pats, tc.image); got != want {
			t.Errorf("%q → %v on %s: %v, want %v", tc.pattern, pats, tc.image, got, want)
		}
	}
}

// pcMatch is policy-controller's glob matching (its glob package, as
// documented): "*" and "*/*" are Docker Hub's, "**" any run, "*" any run
// without "/", over go-containerregistry's name with tag or digest;
// failing that, over the image as written when that differs.
func pcMatch(t *testing.T, glob, image string) bool {
	t.Helper()
	switch glob {
	case "*/*":
		glob = "index.docker.io/*/*"
	case "*":
		glob = "index.docker.io/library/*"
	}
	re := regexp.QuoteMeta(glob)
	re = strings.ReplaceAll(re, `\*\*`, "#")
	re = strings.ReplaceAll(re, `\*`, "[^/]*")
	re = "^" + strings.ReplaceAll(re, "#", ".*") + "$"
	ref, err := name.ParseReference(image, name.WeakValidation)
	if err != nil {
		t.Fatal(err)
	}
	rx := regexp.MustCompile(re)
	return rx.MatchString(ref.Name()) || ref.Name() != image && rx.MatchString(image)
}

// TestPolicyControllerGlobs runs policy-controller's documented glob
// examples through the translation and signet's matcher.
func TestPolicyControllerGlobs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		glob, image string
		match       bool // in policy-controller
		// wider: policy-controller matched only the spelling without tag
		// (its deprecated fallback); signet matches every tag and digest
		// of the repository (noted).
		wider bool
	}{
		{"index.docker.io/library/foo:latest", "foo", true, false},
		{"index.docker.io/library/foo:*", "foo", true, false},
		{"index.docker.io/library/*", "foo", true, false},
		{"index.docker.io/library/*:latest", "foo", true, false},
		{"index.docker.io/*/*", "foo", true, false},
		{"index.docker.io/**", "foo", true, false},
		{"index.docker.**", "foo", true, false},
		{"inde**", "foo", true, false},
		{"**", "foo", true, false},
		{"foo", "foo", true, false},
		{"foo*", "foo", true, false},
		{"foo**", "foo", true, false},
		{"index.docker.io/myuser/myapp:latest", "myuser/myapp", true, false},
		{"index.docker.io/myuser/*", "myuser/myapp", true, false},
		{"index.docker.io/*/*", "myuser/myapp", true, false},
		{"myuser/myapp", "myuser/myapp", true, false},
		{"myuser/myapp*", "myuser/myapp", true, false},
		{"ghcr.io/*/*", "ghcr.io/foo/bar", true, false},
		{"ghcr.io/**", "ghcr.io/foo/bar", true, false},
		{"ghcr.io/*/*", "ghcr.io/foo", false, false},
		{"ghcr.io/**", "ghcr.io/foo", true, false},
		{"ghc**", "ghcr.io/foo", true, false},
		{"*/**", "ghcr.io/foo", true, false},
		{"ghcr.io/foo*", "ghcr.io/foo", true, false},
		{"ghcr.io/foo**", "ghcr.io/foo", true, false},
		{"ghcr.io/foo", "prefix-ghcr.io/foo", false, false},
		{"ghcr.io/foo", "ghcr.io/foo-suffix", false, false},
		{"ghcr.io/**", "ghcrxio/foo", false, false},
		{"*", "foo", true, false},
		{"*/*", "myuser/myapp", true, false},
		// Digests and tags: "*" takes in "@sha256:…" and ":tag".
		{"ghcr.io/acme/*", "ghcr.io/acme/app@" + dg, true, false},
		{"ghcr.io/acme/*", "ghcr.io/acme/app:v1", true, false},
		{"ghcr.io/acme/*", "ghcr.io/acme/team/app:v1", false, false},
		{"ghcr.io/acme/**", "ghcr.io/acme/team/app:v1", true, false},
		{"ghcr.io/acme/*:*", "ghcr.io/acme/app@" + dg, true, false},
		{"ghcr.io/acme/app:*", "ghcr.io/acme/app@" + dg, false, false},
		{"ghcr.io/acme/app:*", "ghcr.io/acme/app:v1", true, false},
		{"ghcr.io/acme/app:v1", "ghcr.io/acme/app:v2", false, false},
		{"ghcr.io/acme/app", "ghcr.io/acme/app:v1", false, true},
		{"ghcr.io/acme/app", "ghcr.io/acme/app", true, false},
		{"index.docker.io/library/busybox:*", "busybox:1.36", true, false},
		{"index.docker.io/library/busybox:*", "docker.io/library/busybox:1.36", true, false},
	} {
		if got := pcMatch(t, tc.glob, tc.image); got != tc.match {
			t.Fatalf("table: policy-controller's %q on %s = %v, the table says %v", tc.glob, tc.image, got, tc.match)
		}
		pats, _, err := pcPatterns(tc.glob)
		if err != nil {
			t.Fatalf("%q: %v", tc.glob, err)
		}
		want := tc.match || tc.wider
		if got := patternsMatch(t, pats, tc.image); got != want {
			t.Errorf("%q → %v on %s: %v, want %v", tc.glob, pats, tc.image, got, want)
		}
	}
	for _, bad := range []string{".+", "[a-z]*", "ghcr.io/acme/app@" + dg} {
		if _, _, err := pcPatterns(bad); err == nil {
			t.Errorf("%q: accepted, policy-controller rejects it", bad)
		}
	}
}

// TestGlobAlgebra checks patternCovers (q applies to every reference p
// applies to) and patternsOverlap (some reference matches both, in either
// order), on the normalised patterns, and the compiled-pattern forms the
// Connaisseur and policy-controller conversions call, contains and
// overlap.
func TestGlobAlgebra(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		q, p           string
		covers, inters bool
	}{
		{"ghcr.io/app*", "ghcr.io/*-debug*", false, true}, // ghcr.io/app-debug
		{"ghcr.io/app*", "ghcr.io/*/x", false, false},
		{"ghcr.io/**", "ghcr.io/a/b/c", true, true},
		{"ghcr.io/*", "ghcr.io/a/b", false, false},
		{"**", "docker.io/library/nginx:1.25", true, true},
		{"ghcr.io/a:v1*", "ghcr.io/a:*-rc", false, true},
		{"ghcr.io/a:v1", "ghcr.io/a:v2", false, false},
		{"ghcr.io/a:v1", "ghcr.io/a", false, true},
		{"ghcr.io/a?c", "ghcr.io/a/c", false, false},
		{"*.gcr.io/**", "eu.gcr.io/p/app", true, true},
		{"*.gcr.io/**", "ghcr.io/p/app", false, false},
		{"ghcr.io/a@" + dg, "ghcr.io/a@sha256:" + "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", false, false},
		{"ghcr.io/a@" + dg, "ghcr.io/*", false, true},
		{"docker.io/library/**", "nginx:*", true, true},
		{"docker.io/library/**", "docker.io/library/nginx", true, true},
		{"docker.io/library/*", "docker.io/library/**", false, true},
		{"ghcr.io/**", "ghcr.io/a/*/b?", true, true},
		{"ghcr.io/*", "ghcr.io/a*", true, true},
		{"ghcr.io/a*", "ghcr.io/*", false, true},
		{"ghcr.io/app:*", "ghcr.io/app", false, true},
		{"ghcr.io/app", "ghcr.io/app:v1", true, true},
		{"ghcr.io/app:v*", "ghcr.io/app:v1*", true, true},
		{"**", "ghcr.io/app@" + dg, true, true},
		{"ghcr.io/app@" + dg, "ghcr.io/app", false, true},
		{"*.gcr.io/**", "eu.gcr.io/p/*", true, true},
		{"*.gcr.io/**", "**", false, true},
		{"ghcr.io/**", "ghcr.io/acme/*", true, true},
		{"ghcr.io/*", "ghcr.io/acme/*", false, false},
		{"ghcr.io/acme/*", "ghcr.io/acme/app", true, true},
		{"ghcr.io/acme/app", "ghcr.io/acme/*", false, true},
		{"**", "docker.io/library/nginx:1.2?", true, true},
		{"docker.io/library/nginx:*", "docker.io/library/nginx:1.2?", true, true},
		{"docker.io/library/nginx:1.*", "docker.io/library/nginx:*", false, true},
		{"docker.io/library/nginx:1.*", "docker.io/library/nginx:2.*", false, false},
		{"ghcr.io/acme/*", "ghcr.io/acme/app@" + dig, true, true},
		{"ghcr.io/acme/*:v1", "ghcr.io/acme/app", false, true},
		{"ghcr.io/a*", "ghcr.io/*b", false, true},
		{"ghcr.io/a?", "ghcr.io/?b", false, true},
		{"ghcr.io/a?", "ghcr.io/bb", false, false},
	} {
		q, err := policy.CompilePattern(c.q)
		if err != nil {
			t.Fatal(err)
		}
		p, err := policy.CompilePattern(c.p)
		if err != nil {
			t.Fatal(err)
		}
		nq, np := q.Normalised(), p.Normalised()
		if got := patternCovers(nq, np, newBudget(patternBudget)); got != c.covers {
			t.Errorf("patternCovers(%q, %q) = %v", nq, np, got)
		}
		if got := contains(q, p); got != c.covers {
			t.Errorf("contains(%s, %s) = %v", c.q, c.p, got)
		}
		for _, x := range [][2]*policy.Pattern{{q, p}, {p, q}} {
			a, b := x[0].Normalised(), x[1].Normalised()
			if got := patternsOverlap(a, b, newBudget(patternBudget)); got != c.inters {
				t.Errorf("patternsOverlap(%q, %q) = %v", a, b, got)
			}
			if got := overlap(x[0], x[1]); got != c.inters {
				t.Errorf("overlap(%s, %s) = %v", x[0], x[1], got)
			}
		}
	}
}

// TestGlobBudget checks that patternBudget suffices for two of signet's
// longest patterns compared the costliest way, and that a comparison out
// of budget answers on the safe side: not covered, may overlap.
func TestGlobBudget(t *testing.T) {
	t.Parallel()
	stars := "r.io/" + strings.Repeat("*a", 253)
	letters := "r.io/" + strings.Repeat("a", 506)
	for _, pair := range [][2]string{{stars, letters}, {letters, stars}, {stars, stars}, {stars + "b", letters + "c"}} {
		if len(pair[0]) > 512 || len(pair[1]) > 512 {
			t.Fatalf("pattern longer than 512 characters")
		}
		b := newBudget(patternBudget)
		patternCovers(pair[0], pair[1], b)
		patternsOverlap(pair[0], pair[1], b)
		if b.out {
			t.Errorf("comparing %.20s… and %.20s… ran out of %d steps", pair[0], pair[1], patternBudget)
		}
	}
	for _, n := range []int{0, 1, 10} {
		if patternCovers("ghcr.io/**", "ghcr.io/a/b", newBudget(n)) {
			t.Errorf("patternCovers within %d steps: true", n)
		}
		if !patternsOverlap("ghcr.io/a*b", "ghcr.io/a*c", newBudget(n)) {
			t.Errorf("patternsOverlap within %d steps: false", n)
		}
	}
}

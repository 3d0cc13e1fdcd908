package policy

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/imageref"
)

// FuzzParse: any input is either a document or an *InvalidError; nothing
// panics. Lint agrees with Parse (a document Parse rejects has errors, but
// for a resource, which Lint checks and Parse refuses) and
// locates every error inside the input.
func FuzzParse(f *testing.F) {
	f.Add([]byte("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators: [{name: a, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: a}]\n"))
	f.Add([]byte("validators: [{name: a, trustRoots: [{name: k, key: x}]}]"))
	f.Add([]byte("rules: [{with: {threshold: 1e99}}]"))
	f.Add([]byte("{}"))
	f.Add([]byte("apiVersion: signet.dev/v1alpha1\nvalidators:\n  - &v {name: a, type: static, approve: \"yes\"}\n  - *v\nrules: [{pattern: 7}, x, {with: {threshold: two, a.b: 1}}]\n"))
	f.Add([]byte("{\"rules\": [{\"pattern\": \"**\", \"with\": {\"mode\": 1}}], \"mode\": \"x\"}"))
	f.Add([]byte("rules: [{with: {platforms: {any-of: [linux/arm64/v8, 7, {}], anyOf: x}}}, {with: {platforms: [all]}}, {with: {platforms: all}}]"))
	// The examples of docs/policy.md seed it too: every field a user writes.
	for _, b := range docExamples(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data)
		r := Lint(data)
		if err != nil && r.Valid() && !refusedResource(err) {
			t.Fatalf("Parse: %v; Lint: valid", err)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, e := range append(r.Errors, r.Notes...) {
			if e.Line < 0 || e.Line > lines || e.Column < 0 {
				t.Fatalf("%q: position outside the input's %d lines", e.Error(), lines)
			}
		}
		if err != nil {
			if _, ok := err.(*InvalidError); !ok {
				t.Fatalf("error %T is not *InvalidError", err)
			}
			return
		}
		if _, err := Compile(doc, nil); err != nil {
			if _, ok := err.(*InvalidError); !ok {
				t.Fatalf("compile error %T is not *InvalidError", err)
			}
		}
	})
}

// refusedResource reports whether err is Parse refusing a resource
// (metadata, spec, status), which Lint checks and a file cannot be.
func refusedResource(err error) bool {
	ie, ok := err.(*InvalidError)
	return ok && len(ie.Errs) == 1 && ie.Errs[0].Field == "spec" && strings.Contains(ie.Errs[0].Msg, "Kubernetes resource")
}

// FuzzPattern: compiling and matching never panic; "**" matches every
// parsed reference; a pattern matches a reference exactly when it matches
// the reference's normalised form (matching sees no spelling); a pattern
// without wildcards matches the reference it spells; and normalising a
// pattern is idempotent.
func FuzzPattern(f *testing.F) {
	dg := "@sha256:" + strings.Repeat("ab", 32)
	for _, s := range []string{
		"ghcr.io/org/*", "**", "nginx", "a/b:c", "x@sha256:ab", "*.gcr.io/**:v?", "ghcr.io:443/org/app", "ghcr.io:*/**",
		"docker.io:443/nginx:1", "[::1]:5000/app", "127.1:5000/a", "ghcr.io/org/app" + dg, "ghcr.io/org/app:v1" + dg,
	} {
		f.Add(s, "ghcr.io/org/app:v1")
		f.Add(s, "GHCR.IO:0443/org/app:v1"+dg)
	}
	all, _ := CompilePattern("**")
	f.Fuzz(func(t *testing.T, pattern, image string) {
		p, perr := CompilePattern(pattern)
		ref, err := imageref.Parse(image)
		if err != nil {
			return
		}
		if !all.Match(ref) {
			t.Fatalf("** does not match %q", ref)
		}
		if perr != nil {
			return
		}
		norm, err := imageref.Parse(ref.String())
		if err != nil {
			t.Fatalf("normalised %q does not parse: %v", ref, err)
		}
		if p.Match(ref) != p.Match(norm) || p.Match(ref) && p.dependsOnTag(ref.Digest) != p.dependsOnTag(norm.Digest) {
			t.Fatalf("%q matches %q and its normalised form %q differently", pattern, image, ref)
		}
		if !strings.ContainsAny(pattern, "*?") && p.digest == "" && !p.Match(ref) {
			if lit, err := imageref.Parse(pattern); err == nil && lit.Name() == ref.Name() && (p.tag == nil || lit.Tag == ref.Tag) {
				t.Fatalf("%q does not match %q", pattern, image)
			}
		}
		p2, err := CompilePattern(p.Normalised())
		if err != nil || p2.Normalised() != p.Normalised() {
			t.Fatalf("normalised pattern %q of %q: %v, %v", p.Normalised(), pattern, p2, err)
		}
	})
}

// FuzzEvaluate: the engine answers any string with a decision, never a
// panic, and never allows what it could not parse.
func FuzzEvaluate(f *testing.F) {
	doc, _ := Parse([]byte("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators: [{name: a, type: static, approve: true}]\nrules: [{pattern: \"ghcr.io/**\", validator: a}]\n"))
	eng, err := Compile(doc, nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"ghcr.io/a/b:c", "nginx", "", "ghcr.io/A", "ghcr.io/a@sha256:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, image string) {
		d := eng.Evaluate(context.Background(), image)
		if _, err := imageref.Parse(image); err != nil && d.Allowed {
			t.Fatalf("allowed unparseable %q", image)
		}
	})
}

// docExamples returns the YAML blocks of docs/policy.md.
func docExamples(tb testing.TB) [][]byte {
	md, err := os.ReadFile("../../docs/policy.md")
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for {
		_, rest, ok := bytes.Cut(md, []byte("```yaml\n"))
		if !ok {
			break
		}
		block, after, ok := bytes.Cut(rest, []byte("```"))
		if !ok {
			break
		}
		out = append(out, block)
		md = after
	}
	if len(out) == 0 {
		tb.Fatal("no YAML examples in docs/policy.md")
	}
	return out
}

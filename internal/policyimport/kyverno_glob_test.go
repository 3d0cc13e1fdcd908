package policyimport

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/policy"
)

// kyvernoPrint is the string Kyverno matches imageReferences against, as
// its image package prints a container's image with the default
// configuration (docker.io the default registry, added to names):
// registry as written, "library/" before a one-component path (on every
// registry), then ":tag" ("latest" when none), or "@digest" alone.
func kyvernoPrint(image string) string {
	if i := strings.IndexByte(image, '/'); i < 0 || !strings.ContainsAny(image[:i], ".:") && image[:i] != "localhost" && strings.ToLower(image[:i]) == image[:i] {
		image = "docker.io/" + image
	}
	rest, digest, _ := strings.Cut(image, "@")
	tag := ""
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		rest, tag = rest[:i], rest[i+1:]
	}
	reg, path, _ := strings.Cut(rest, "/")
	if !strings.Contains(path, "/") {
		path = "library/" + path
	}
	if digest != "" {
		return reg + "/" + path + "@" + digest
	}
	if tag == "" {
		tag = "latest"
	}
	return reg + "/" + path + ":" + tag
}

// kyvernoMatch is Kyverno's wildcard match: "*" any run of characters,
// "?" any one, the whole string.
func kyvernoMatch(pattern, s string) bool {
	var b strings.Builder
	b.WriteString(`\A`)
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(`(?s:.*)`)
		case '?':
			b.WriteString(`(?s:.)`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`\z`)
	return regexp.MustCompile(b.String()).MatchString(s)
}

// signetMatcher compiles signet rules from patterns and reports whether
// one applies to an image as written: through policy.Compile and
// Engine.Match, the engine's own choice. A digest pattern is taken not to
// apply to a reference by tag (it would when the tag names that digest: a
// registry question, and a documented difference).
func signetMatcher(t testing.TB, patterns []string) func(image string) bool {
	t.Helper()
	compile := func(withDigests bool) *policy.Engine {
		deny := false
		doc := &policy.Document{APIVersion: policy.APIVersion, Kind: policy.Kind}
		doc.Validators = []policy.Validator{{Name: "hit", Type: policy.TypeStatic, Approve: &deny}}
		for _, p := range patterns {
			if withDigests || !strings.Contains(p, "@") {
				doc.Rules = append(doc.Rules, policy.Rule{Pattern: p, Validator: "hit"})
			}
		}
		if len(doc.Rules) == 0 {
			return nil
		}
		eng, err := policy.Compile(doc, nil, policy.Offline())
		if err != nil {
			t.Fatalf("patterns %q: %v", patterns, err)
		}
		return eng
	}
	all, tagFree := compile(true), compile(false)
	return func(image string) bool {
		ref, err := imageref.Parse(image)
		if err != nil {
			t.Fatalf("%s: %v", image, err)
		}
		eng := all
		if ref.Digest == "" {
			eng = tagFree
		}
		if eng == nil {
			return false
		}
		_, _, ok := eng.Match(ref)
		return ok
	}
}

func signetMatches(t testing.TB, patterns []string, image string) bool {
	t.Helper()
	return signetMatcher(t, patterns)(image)
}

const dig = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// Kyverno's documented imageReferences examples and the spellings of the
// images they are meant for: whether Kyverno matches, written out, and
// the translation run through signet's engine.
var kyvernoGlobCases = []struct {
	pattern, image string
	kyverno        bool
}{
	{"ghcr.io/kyverno/test-verify-image*", "ghcr.io/kyverno/test-verify-image:signed", true},
	{"ghcr.io/kyverno/test-verify-image*", "ghcr.io/kyverno/test-verify-image@" + dig, true},
	{"ghcr.io/kyverno/test-verify-image*", "ghcr.io/kyverno/test-verify-image-evil:1", true},
	{"ghcr.io/kyverno/test-verify-image*", "ghcr.io/kyverno/other:1", false},
	{"ghcr.io/kyverno/test-verify-image:*", "ghcr.io/kyverno/test-verify-image:signed", true},
	{"ghcr.io/kyverno/test-verify-image:*", "ghcr.io/kyverno/test-verify-image@" + dig, false},
	{"ghcr.io/kyverno/test-verify-image:*", "ghcr.io/kyverno/test-verify-image-evil:1", false},
	{"ghcr.io/myorg/*", "ghcr.io/myorg/app:v1", true},
	{"ghcr.io/myorg/*", "ghcr.io/myorg/team/app:v1", true}, // "*" crosses "/"
	{"ghcr.io/myorg/*", "ghcr.io/myorg/app@" + dig, true},
	{"ghcr.io/myorg/*", "ghcr.io/other/app:v1", false},
	{"ghcr.io/myorg/*:*", "ghcr.io/myorg/app@" + dig, true}, // ":" of "sha256:"
	{"*", "nginx", true},
	{"*", "registry.example.com:5000/a/b/c@" + dig, true},
	{"docker.io/library/nginx:*", "nginx", true},
	{"docker.io/library/nginx:*", "nginx:1.27", true},
	{"docker.io/library/nginx:*", "docker.io/library/nginx:1.27", true},
	{"docker.io/library/nginx:*", "nginx@" + dig, false},
	{"docker.io/nginx:*", "nginx:1.27", false}, // Kyverno prints docker.io/library/nginx
	{"nginx:*", "nginx:1.27", false},           // …with its registry
	{"nginx*", "nginx:1.27", false},
	{"*nginx*", "nginx:1.27", true},
	{"*nginx*", "ghcr.io/acme/app:nginx-1", true}, // the "*" falls in the tag
	{"*nginx*", "ghcr.io/acme/app:v1", false},
	{"docker.io/library/nginx:1.2?", "nginx:1.27", true},
	{"docker.io/library/nginx:1.2?", "nginx:1.2", false},
	{"docker.io/library/nginx:1.2?", "nginx:1.271", false},
	{"*/nginx:latest", "nginx", true},
	{"*/nginx:latest", "nginx:1", false},
	{"*.azurecr.io/*", "acme.azurecr.io/team/app:v1", true},
	{"*.azurecr.io/*", "azurecr.io/team/app:v1", false},
	{"localhost:5000/*", "localhost:5000/app:v1", true},
	{"localhost:5000/*", "localhost:5001/app:v1", false},
	{"ghcr.io/library/app:*", "ghcr.io/app:v1", true}, // Kyverno's library/ on any registry
	{"ghcr.io/library/app:*", "ghcr.io/library/app:v1", true},
	{"ghcr.io/app:*", "ghcr.io/app:v1", false},
	{"ghcr.io/acme/app@" + dig, "ghcr.io/acme/app@" + dig, true},
	{"ghcr.io/acme/app@" + dig, "ghcr.io/acme/app:v1@" + dig, true}, // printed without the tag
	{"ghcr.io/acme/app:v1", "ghcr.io/acme/app:v1", true},
	{"ghcr.io/acme/app", "ghcr.io/acme/app:v1", false}, // no tag, no match
}

func TestKyvernoPatterns(t *testing.T) {
	t.Parallel()
	for _, c := range kyvernoGlobCases {
		if got := kyvernoMatch(c.pattern, kyvernoPrint(c.image)); got != c.kyverno {
			t.Errorf("the Kyverno model says %q ~ %q (%s) = %v; the table %v", c.pattern, c.image, kyvernoPrint(c.image), got, c.kyverno)
		}
		tr := kyvernoPatterns(c.pattern)
		if got := signetMatches(t, tr.patterns, c.image); got != c.kyverno {
			t.Errorf("%q → %q: signet matches %q: %v, Kyverno %v (notes %q)", c.pattern, tr.patterns, c.image, got, c.kyverno, tr.notes)
		}
	}
}

// TestKyvernoPatternsAgree compares the translation with Kyverno's match
// on generated patterns and images: the same decision wherever the
// translation has no note, and never fewer matches where it is stricter.
func TestKyvernoPatternsAgree(t *testing.T) {
	t.Parallel()
	frags := []string{"ghcr.io", "docker.io", "localhost:5000", "acme", "app", "library", "nginx", "/", "/", ":", "*", "*", "?", "v1", "1.2", "@sha256:", "0123", ".", "-", "sub"}
	images := []string{
		"nginx", "nginx:1.25", "nginx:1.2", "docker.io/library/nginx:v1", "library/nginx@" + dig,
		"acme/app:v1", "acme/app/sub:1.2", "ghcr.io/acme/app:v1", "ghcr.io/acme/app/sub:v1",
		"ghcr.io/acme/app@" + dig, "ghcr.io/acme/app-sub:v1.2", "ghcr.io/acme/nginx:1.2",
		"localhost:5000/acme/app:v1", "localhost:5000/library/nginx@" + dig, "ghcr.io/library/app:v1",
		"ghcr.io/acme/app:1.2-sub", "ghcr.io/nginx/app:latest",
	}
	rng := rand.New(rand.NewPCG(17, 4))
	checked := 0
	for range 3000 {
		var b strings.Builder
		for range 1 + rng.IntN(6) {
			b.WriteString(frags[rng.IntN(len(frags))])
		}
		p := b.String()
		tr := kyvernoPatterns(p)
		notes := strings.Join(tr.notes, "\n")
		if strings.Contains(notes, `"?"`) || strings.Contains(notes, "only the first") {
			continue
		}
		match := signetMatcher(t, tr.patterns)
		for _, img := range images {
			k := kyvernoMatch(p, kyvernoPrint(img))
			s := match(img)
			switch {
			case k == s:
			case k && !s:
				t.Errorf("%q → %q: Kyverno matches %q (%s), signet does not", p, tr.patterns, img, kyvernoPrint(img))
			case !strings.Contains(notes, "stricter"):
				t.Errorf("%q → %q: signet matches %q, Kyverno does not (%s), without a note", p, tr.patterns, img, kyvernoPrint(img))
			}
			checked++
		}
	}
	t.Logf("%d comparisons", checked)
	if checked < 10000 {
		t.Fatalf("only %d comparisons", checked)
	}
}

// TestKyvernoEntriesAgree generates sets of Kyverno entries (patterns and
// skips from Kyverno's documented shapes) and checks, for each image, that
// the rule signet's engine chooses carries exactly the entries Kyverno
// would apply to it — every entry whose imageReferences match and whose
// skipImageReferences do not — unless the conversion notes an overlap it
// cannot express (patterns whose intersection is no pattern: about 1% of
// these decisions).
func TestKyvernoEntriesAgree(t *testing.T) {
	t.Parallel()
	pats := []string{"ghcr.io/*", "ghcr.io/acme/*", "ghcr.io/acme/app:*", "ghcr.io/acme/app:v1", "*", "ghcr.io/acme/tools/*",
		"ghcr.io/*/app:*", "docker.io/library/nginx*", "*:v1", "ghcr.io/acme/app*", "localhost:5000/*", "*/app:*"}
	rng := rand.New(rand.NewPCG(7, 11))
	compared, skipped := 0, 0
	for range 150 {
		var refs, skips [][]string
		for range 1 + rng.IntN(4) {
			var r, s []string
			for range 1 + rng.IntN(2) {
				r = append(r, pats[rng.IntN(len(pats))])
			}
			if rng.IntN(3) == 0 {
				s = []string{pats[rng.IntN(len(pats))]}
			}
			refs, skips = append(refs, r), append(skips, s)
		}
		c, d := entriesAgree(t, refs, skips)
		compared, skipped = compared+c, skipped+d
	}
	t.Logf("%d decisions compared, %d differ where an overlap is noted", compared, skipped)
	if skipped*30 > compared {
		t.Errorf("%d of %d decisions differ", skipped, compared)
	}
}

// agreeImages are the images entriesAgree decides.
var agreeImages = []string{"nginx:1.25", "nginx:v1", "ghcr.io/acme/app:v1", "ghcr.io/acme/app:v2", "ghcr.io/acme/app@" + dig,
	"ghcr.io/acme/tools/x:v1", "ghcr.io/other/app:v1", "ghcr.io/acme/app-2:v1", "localhost:5000/acme/app:v1", "quay.io/x/y:v1"}

// entriesAgree converts entries with the given patterns and skips and,
// for each of agreeImages, compares the entries the rule signet chooses
// carries with those Kyverno applies. A difference fails the test unless
// the conversion noted an inexact translation or an overlap; it returns
// the decisions compared and those that differed so.
func entriesAgree(t testing.TB, refs, skips [][]string) (compared, differ int) {
	t.Helper()
	c := &kyConverter{names: map[string]bool{"allow": true, "deny": true}, budget: newBudget(conversionBudget)}
	inexact := false
	for i := range refs {
		v := kyVerify{ImageReferences: refs[i], SkipImageReferences: skips[i], FailureAction: "Enforce",
			Attestors: []kyAttestorSet{{Entries: []kyAttestor{{Keys: &kyKeys{KMS: fmt.Sprintf("awskms:///alias/k%d", i)}}}}}}
		for _, p := range append(slices.Clone(refs[i]), skips[i]...) {
			inexact = inexact || len(kyvernoPatterns(p).notes) > 0
		}
		e := c.entry(v, kySpec{}, fmt.Sprintf("e%d", i))
		e.name = fmt.Sprintf("e%d", i)
		c.entries = append(c.entries, e)
	}
	if c.err != nil {
		return 0, 0
	}
	doc, notes, err := c.build()
	if err != nil {
		return 0, 0
	}
	for _, n := range notes {
		inexact = inexact || strings.Contains(n.Message, "overlap") || strings.Contains(n.Message, "more specific")
	}
	eng, err := policy.Compile(doc, nil, policy.Offline())
	if err != nil {
		t.Fatalf("%v", err)
	}
	for _, img := range agreeImages {
		var want []string
		for _, e := range c.entries {
			matched := false
			for _, r := range e.refs {
				matched = matched || kyvernoMatch(r, kyvernoPrint(img))
			}
			for _, s := range e.skipRefs {
				matched = matched && !kyvernoMatch(s, kyvernoPrint(img))
			}
			if matched {
				want = append(want, e.name)
			}
		}
		ref, _ := imageref.Parse(img)
		p, _, ok := eng.Match(ref)
		if !ok {
			continue // the choice depends on what a tag names
		}
		var got []string
		for _, e := range c.ruleEntries[p] {
			got = append(got, e.name)
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			if inexact {
				differ++
				continue
			}
			t.Fatalf("%s: rule %q carries %v, Kyverno applies %v; entries %q skip %q", img, p, got, want, refs, skips)
		}
		compared++
	}
	return compared, differ
}

package policy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/signet-dev/signet/internal/imageref"
)

// Pattern is a compiled rule pattern.
//
// Syntax: a glob over the normalised reference registry/path[:tag][@digest].
// "*" matches any run of characters except "/", "?" one character except
// "/", "**" any run including "/". Everything else is literal. The pattern
// must match the whole reference; a pattern that names no tag or digest
// ("docker.io/library/nginx") matches every tag and digest of that
// repository and nothing else ("docker.io/library/nginx-evil" is not
// matched). Short Docker Hub names are normalised like references:
// "nginx" means "docker.io/library/nginx", "org/app" "docker.io/org/app".
type Pattern struct {
	raw   string
	norm  string
	re    *regexp.Regexp
	comps []string
}

// maxPatternLen bounds a pattern's length.
const maxPatternLen = 512

// CompilePattern parses and compiles a pattern.
func CompilePattern(s string) (*Pattern, error) {
	switch {
	case s == "":
		return nil, errors.New("must not be empty")
	case len(s) > maxPatternLen:
		return nil, fmt.Errorf("longer than %d characters", maxPatternLen)
	case strings.ContainsAny(s, " \t\r\n"):
		return nil, errors.New("must not contain white space")
	case strings.ContainsAny(s, "[]{}\\!"):
		return nil, errors.New(`character classes, alternatives and escapes ("[", "{", "\", "!") are not supported; use "*", "?" and "**"`)
	case strings.Contains(s, "***"):
		return nil, errors.New(`"***" is not a valid wildcard; use "*" within a path component or "**" across components`)
	case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//"):
		return nil, errors.New("path components must not be empty")
	case strings.Count(s, "@") > 1:
		return nil, errors.New(`at most one "@" (digest) is allowed`)
	}
	norm := normalisePattern(s)
	var b strings.Builder
	b.WriteString(`\A`)
	for i := 0; i < len(norm); i++ {
		switch c := norm[i]; {
		case c == '*' && i+1 < len(norm) && norm[i+1] == '*':
			b.WriteString(`.*`)
			i++
		case c == '*':
			b.WriteString(`[^/]*`)
		case c == '?':
			b.WriteString(`[^/]`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	last := norm[strings.LastIndexByte(norm, '/')+1:]
	switch {
	case strings.HasSuffix(norm, "**") || strings.Contains(last, "@"):
	case strings.Contains(last, ":"):
		b.WriteString(`(?:@[^/]+)?`) // a tag pattern also matches tag@digest
	default:
		b.WriteString(`(?::[^/@]+)?(?:@[^/]+)?`) // a repository pattern matches any tag and digest
	}
	b.WriteString(`\z`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("compiling: %w", err)
	}
	return &Pattern{raw: s, norm: norm, re: re, comps: strings.Split(norm, "/")}, nil
}

// String returns the pattern as written.
func (p *Pattern) String() string { return p.raw }

// Normalised returns the pattern after Docker Hub normalisation.
func (p *Pattern) Normalised() string { return p.norm }

// Match reports whether the normalised reference ref matches.
func (p *Pattern) Match(ref string) bool { return p.re.MatchString(ref) }

// normalisePattern applies Docker Hub normalisation when the first path
// component is literal, mirroring imageref: a first component is a registry
// host when it contains "." or ":" or is "localhost".
func normalisePattern(s string) string {
	first, rest, multi := strings.Cut(s, "/")
	if strings.ContainsAny(first, "*?") {
		return s
	}
	if !multi {
		return imageref.DockerHub + "/library/" + s
	}
	if strings.ContainsAny(first, ".:") || strings.EqualFold(first, "localhost") {
		host := strings.ToLower(first)
		if host == "index.docker.io" || host == "registry-1.docker.io" {
			host = imageref.DockerHub
		}
		if host == imageref.DockerHub && !strings.Contains(rest, "/") && !strings.ContainsAny(rest, "*?") {
			rest = "library/" + rest
		}
		return host + "/" + rest
	}
	return imageref.DockerHub + "/" + s
}

// literalPrefix is the number of characters before the first wildcard.
func literalPrefix(c string) int {
	if i := strings.IndexAny(c, "*?"); i >= 0 {
		return i
	}
	return len(c)
}

// moreSpecific reports whether p is more specific than q: more path
// components; then, component by component from the left, a longer literal
// prefix; then, component by component, a longer component. Patterns equal
// on all three are ordered by their normalised text so the choice is
// deterministic.
func (p *Pattern) moreSpecific(q *Pattern) bool {
	if len(p.comps) != len(q.comps) {
		return len(p.comps) > len(q.comps)
	}
	for i := range p.comps {
		if a, b := literalPrefix(p.comps[i]), literalPrefix(q.comps[i]); a != b {
			return a > b
		}
	}
	for i := range p.comps {
		if a, b := len(p.comps[i]), len(q.comps[i]); a != b {
			return a > b
		}
	}
	return p.norm < q.norm
}

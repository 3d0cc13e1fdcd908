package policy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/signet-dev/signet/internal/imageref"
)

// Pattern is a compiled rule pattern: a glob over the repository, and
// optionally a glob over the tag and a digest.
//
// Syntax: registry/path[:tag][@digest], normalised as references are
// (imageref: Docker Hub names, registry host case, default ports, IP
// address spellings). In the repository and the tag, "*" matches any run of
// characters except "/", "?" one character except "/", "**" any run
// including "/"; everything else is literal. A digest is written out in
// full. Each part must match the whole of its counterpart; a pattern that
// names no tag or digest ("docker.io/library/nginx") matches every tag and
// digest of that repository and nothing else ("docker.io/library/nginx-evil"
// is not matched). Short Docker Hub names are normalised like references:
// "nginx" means "docker.io/library/nginx", "org/app" "docker.io/org/app".
//
// Whether a pattern that names a tag or a digest applies to a reference can
// depend on what the reference's tag names (Engine.Evaluate): a tag pattern
// applies when that tag is what runs, a digest pattern when its digest is.
type Pattern struct {
	raw  string
	norm string
	// repo matches the repository's normalised name, registry/path.
	repo glob
	// tag matches the tag; nil when the pattern names none.
	tag *glob
	// digest is the digest the pattern names, "" when none.
	digest string
	comps  []string
}

// glob is one part of a pattern: a literal string, or a literal prefix
// (up to the first wildcard) and the rest, which is "**" or "*" — most
// patterns end so, matched without a regular expression — or a regular
// expression. A regular expression takes kilobytes; a policy of 10,000
// patterns would hold tens of MiB of them (TestMemoryThousandPolicies).
type glob struct {
	lit  string
	tail globTail
	re   *regexp.Regexp // tail == tailRegexp
}

// globTail is how the rest of a glob after its literal prefix matches.
type globTail uint8

const (
	tailNone      globTail = iota // no wildcard: the literal is the whole
	tailAny                       // "**": anything
	tailComponent                 // "*": anything without "/"
	tailRegexp                    // re
)

func (g *glob) match(s string) bool {
	if g.tail == tailNone {
		return s == g.lit
	}
	rest, ok := strings.CutPrefix(s, g.lit)
	switch {
	case !ok:
		return false
	case g.tail == tailAny:
		return true
	case g.tail == tailComponent:
		return !strings.Contains(rest, "/")
	}
	return g.re.MatchString(rest)
}

func compileGlob(s string) (glob, error) {
	i := literalPrefix(s)
	g := glob{lit: s[:i]}
	switch rest := s[i:]; rest {
	case "":
		return g, nil
	case "**":
		g.tail = tailAny
		return g, nil
	case "*":
		g.tail = tailComponent
		return g, nil
	}
	var b strings.Builder
	b.WriteString(`\A`)
	for i := len(g.lit); i < len(s); i++ {
		switch c := s[i]; {
		case c == '*' && i+1 < len(s) && s[i+1] == '*':
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
	b.WriteString(`\z`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return glob{}, fmt.Errorf("compiling: %w", err)
	}
	g.tail, g.re = tailRegexp, re
	return g, nil
}

// maxPatternLen bounds a pattern's length, written and normalised (which
// can add "docker.io/library/" or expand an IPv4 address written short):
// the normalised form of a pattern compiles too.
const maxPatternLen = 512

// ipv6HostRE is a registry host written as a bracketed IPv6 address, the
// one place a pattern may contain brackets.
var ipv6HostRE = regexp.MustCompile(`^\[[0-9A-Fa-f:]+\](?::[0-9]+)?/`)

// CompilePattern parses and compiles a pattern.
func CompilePattern(s string) (*Pattern, error) {
	switch {
	case s == "":
		return nil, errors.New("must not be empty")
	case len(s) > maxPatternLen:
		return nil, fmt.Errorf("longer than %d characters", maxPatternLen)
	case strings.ContainsAny(s, " \t\r\n"):
		return nil, errors.New("must not contain white space")
	case strings.ContainsAny(strings.TrimPrefix(s, ipv6HostRE.FindString(s)), "[]{}\\!"):
		return nil, errors.New(`character classes, alternatives and escapes ("[", "{", "\", "!") are not supported; use "*", "?" and "**" (brackets are allowed around an IPv6 registry address only)`)
	case strings.Contains(s, "***"):
		return nil, errors.New(`"***" is not a valid wildcard; use "*" within a path component or "**" across components`)
	case strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") || strings.Contains(s, "//"):
		return nil, errors.New("path components must not be empty")
	case strings.Count(s, "@") > 1:
		return nil, errors.New(`at most one "@" (digest) is allowed`)
	}
	p := &Pattern{raw: s}
	rest, digest, hasDigest := strings.Cut(s, "@")
	if hasDigest {
		if strings.ContainsAny(digest, "*?") {
			return nil, errors.New(`a digest must be written out in full ("@sha256:…"); a pattern without one matches every digest`)
		}
		if err := imageref.CheckDigest(digest); err != nil {
			return nil, err
		}
		p.digest = digest
	}
	tag := ""
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		rest, tag = rest[:i], rest[i+1:]
		if tag == "" {
			return nil, errors.New(`the tag after ":" must not be empty`)
		}
	}
	repo, err := normaliseRepoPattern(rest)
	if err != nil {
		return nil, err
	}
	// Checked on the normalised repository, so that a one-component
	// pattern ("::0" is repository ":" with tag "0") is held to it too.
	if _, path, ok := strings.Cut(repo, "/"); ok && strings.Contains(path, ":") {
		return nil, errors.New(`":" may only separate a registry's port or the tag`)
	}
	if p.repo, err = compileGlob(repo); err != nil {
		return nil, err
	}
	p.norm = repo
	if tag != "" {
		g, err := compileGlob(tag)
		if err != nil {
			return nil, err
		}
		p.tag, p.norm = &g, p.norm+":"+tag
	}
	if p.digest != "" {
		p.norm += "@" + p.digest
	}
	if len(p.norm) > maxPatternLen {
		return nil, fmt.Errorf("longer than %d characters once normalised (%d)", maxPatternLen, len(p.norm))
	}
	p.comps = strings.Split(p.norm, "/")
	return p, nil
}

// String returns the pattern as written.
func (p *Pattern) String() string { return p.raw }

// Normalised returns the pattern after normalisation.
func (p *Pattern) Normalised() string { return p.norm }

// Match reports whether p can apply to ref, knowing only how ref is
// written: its repository matches, and its tag and digest do not rule p
// out. Whether p does apply can depend on what ref's tag names: see
// dependsOnTag.
func (p *Pattern) Match(ref imageref.Ref) bool { return p.match(ref.Name(), ref.Tag, ref.Digest) }

// match is Match on a reference's normalised name, tag and digest.
func (p *Pattern) match(name, tag, digest string) bool {
	return p.repo.match(name) &&
		(p.tag == nil || tag != "" && p.tag.match(tag)) &&
		(p.digest == "" || digest == "" || digest == p.digest)
}

// dependsOnTag reports, for a reference p matches and whose digest is
// digest ("" when it has none), whether p applies only if what its tag
// names is right: a tag pattern for tag@digest (the tag must name the
// digest, or the tag is not what runs), a digest pattern for a reference
// by tag alone (the tag must name the pattern's digest).
func (p *Pattern) dependsOnTag(digest string) bool {
	return p.tag != nil && digest != "" || p.digest != "" && digest == ""
}

// appliesTo reports, for a ref p matches, whether p applies when ref's tag
// names tagDigest ("" when it names nothing) and digest runs.
func (p *Pattern) appliesTo(tagDigest, digest string) bool {
	return (p.tag == nil || tagDigest != "" && tagDigest == digest) && (p.digest == "" || p.digest == digest)
}

// normaliseRepoPattern normalises the registry/path part of a pattern as
// imageref normalises references, when its first component is a registry
// host: one that contains "." or ":", is "localhost" or a bracketed IPv6
// address (as references are read), or starts with a wildcard. A
// wildcard in the host leaves the rest of it to be normalised part by part.
func normaliseRepoPattern(s string) (string, error) {
	first, rest, multi := strings.Cut(s, "/")
	hostLike := strings.ContainsAny(first, ".:[*?") || strings.EqualFold(first, "localhost")
	switch {
	case !multi && strings.ContainsAny(first, "*?"):
		return s, nil
	case !multi:
		return imageref.DockerHub + "/library/" + s, nil
	case !hostLike:
		return imageref.DockerHub + "/" + s, nil
	}
	host, err := normaliseHostPattern(first)
	if err != nil {
		return "", err
	}
	if imageref.IsDockerHub(host) && !strings.Contains(rest, "/") && !strings.ContainsAny(rest, "*?") {
		rest = "library/" + rest
	}
	return host + "/" + rest, nil
}

// normaliseHostPattern normalises a pattern's registry host with
// imageref's functions: whole when it is literal, its name and its port
// each when literal otherwise (a wildcard port matches only ports other
// than the default ones, which normalisation drops).
func normaliseHostPattern(h string) (string, error) {
	if !strings.ContainsAny(h, "*?") {
		return imageref.NormaliseHost(h)
	}
	name, port := imageref.SplitPort(h)
	if strings.HasSuffix(h, ":") || !strings.HasPrefix(name, "[") && strings.Contains(name, ":") {
		return "", fmt.Errorf("registry host %q: an empty port, or a colon in the host name", h)
	}
	var err error
	if strings.ContainsAny(name, "*?") {
		name = strings.ToLower(name)
	} else if name, err = imageref.NormaliseName(name); err != nil {
		return "", err
	}
	if port != "" && !strings.ContainsAny(port, "*?") {
		if port, err = imageref.NormalisePort(port); err != nil {
			return "", fmt.Errorf("registry host %q: %v", h, err)
		}
	}
	if port != "" {
		return name + ":" + port, nil
	}
	return name, nil
}

// literalPrefix is the number of characters before the first wildcard.
func literalPrefix(c string) int {
	if i := strings.IndexAny(c, "*?"); i >= 0 {
		return i
	}
	return len(c)
}

// moreSpecific reports whether p is more specific than q: a pattern that
// names a digest (one content) before one that does not; then more path
// components; then, component by component from the left, a longer literal
// prefix; then, component by component, a longer component. Patterns equal
// on all of these are ordered by their normalised text so the choice is
// deterministic.
func (p *Pattern) moreSpecific(q *Pattern) bool {
	if c := p.specificity(q); c != 0 {
		return c > 0
	}
	return p.norm < q.norm
}

// MoreSpecific reports whether p takes precedence over q for a reference
// both apply to (see moreSpecific).
func (p *Pattern) MoreSpecific(q *Pattern) bool { return p.moreSpecific(q) }

// specificity compares p with q as moreSpecific does but for the last step,
// the text: 1 when p is more specific, -1 when q is, 0 when they are
// equally specific (a tie, which CompileSet's engines resolve by requiring
// every tied rule of distinct objects).
func (p *Pattern) specificity(q *Pattern) int {
	c, _ := p.rank(q)
	return c
}

// The steps of specificity, as rank names them.
const (
	byDigest     = "a pattern naming a digest is more specific than one naming none"
	byComponents = "more path components are more specific"
	byPrefix     = "a longer literal prefix (before the first wildcard), component by component from the left, is more specific"
	byLength     = "a longer component, component by component from the left, is more specific"
)

// rank is specificity, with the step that decided it ("" for a tie).
func (p *Pattern) rank(q *Pattern) (int, string) {
	more := func(b bool) int {
		if b {
			return 1
		}
		return -1
	}
	if (p.digest != "") != (q.digest != "") {
		return more(p.digest != ""), byDigest
	}
	if len(p.comps) != len(q.comps) {
		return more(len(p.comps) > len(q.comps)), byComponents
	}
	for i := range p.comps {
		if a, b := literalPrefix(p.comps[i]), literalPrefix(q.comps[i]); a != b {
			return more(a > b), byPrefix
		}
	}
	for i := range p.comps {
		if a, b := len(p.comps[i]), len(q.comps[i]); a != b {
			return more(a > b), byLength
		}
	}
	return 0, ""
}

// rankedBy returns what specificity compares of p.
func (p *Pattern) rankedBy() Specificity {
	s := Specificity{Digest: p.digest != "", Components: len(p.comps), LiteralPrefixes: make([]int, len(p.comps))}
	for i, c := range p.comps {
		s.LiteralPrefixes[i] = literalPrefix(c)
	}
	return s
}

package policyimport

import (
	"errors"
	"fmt"
	"strings"
)

// maxExpansions bounds the signet patterns one pattern with alternatives
// ("{a,b}", "[abc]") becomes.
const maxExpansions = 64

// Connaisseur matches a rule's pattern as a glob (gobwas/glob, no
// separators: "*" is any run of characters, "/" included, "?" any one
// character, "[…]" a class, "{a,b}" alternatives) against the image's
// full name, registry/path[:tag][@digest], with Docker Hub spelled
// index.docker.io, and adds a "*" before and after a pattern that does not
// already start or end with one. The most specific matching pattern wins:
// more "/"-separated components as written, then longer common prefixes
// and components from the left.
//
// connaisseurPatterns translates one pattern into signet patterns that
// match the same images, anchored: the implicit "*" around the pattern is
// not carried over (it let "docker.io/library/*:*" match
// "evil.example/docker.io/library/x:1", and "acme/app" match
// "acme/app-debug"); the caller notes that once. A "*" of the repository
// becomes "**" (it crosses "/"); a "*" tag after a wildcard repository
// matches digests too ("@sha256:…" holds a ":"), so it becomes a pattern
// without a tag, which matches every tag and digest. widened reports a
// negated class turned into "?" (matching more).
func connaisseurPatterns(p string) (pats []string, widened bool, err error) {
	alts, widened, err := expandAlternatives(p)
	if err != nil {
		return nil, false, err
	}
	seen := map[string]bool{}
	for _, a := range alts {
		s, err := connaisseurPattern(a)
		if err != nil {
			return nil, false, err
		}
		if !seen[s] {
			seen[s] = true
			pats = append(pats, s)
		}
	}
	return pats, widened, nil
}

func connaisseurPattern(p string) (string, error) {
	repo, digest, hasDigest := strings.Cut(p, "@")
	tag := ""
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo, tag = repo[:i], repo[i+1:]
	}
	if repo == "" {
		return "", errors.New("no repository")
	}
	allStars := func(s string) bool { return s != "" && strings.Trim(s, "*") == "" }
	r := strings.ReplaceAll(strings.ReplaceAll(repo, "**", "*"), "*", "**")
	switch {
	case hasDigest:
		if strings.ContainsAny(digest, "*?") {
			// "@sha256:*" is any digest: every reference by digest of the
			// repository, which a pattern without tag covers.
			if tag != "" && !allStars(tag) {
				return "", errors.New("a tag and a wildcard digest together have no signet equivalent")
			}
			return r, nil
		}
		if tag != "" && !allStars(tag) {
			return "", errors.New("a tag and a digest together have no signet equivalent; name the digest alone")
		}
		return r + "@" + digest, nil
	case tag == "":
		return r, nil
	case allStars(tag) && strings.HasSuffix(repo, "*"):
		// "x/*:*" also matches "x/app@sha256:…": every tag and digest.
		return r, nil
	}
	return r + ":" + tag, nil
}

// expandAlternatives expands "{a,b}" and "[…]" classes into the patterns
// they stand for, at most maxExpansions; a negated class ("[!…]") becomes
// "?" and widened is true.
func expandAlternatives(p string) (out []string, widened bool, err error) {
	out = []string{""}
	for i := 0; i < len(p); i++ {
		var choices []string
		switch c := p[i]; c {
		case '\\':
			if i+1 == len(p) {
				return nil, false, errors.New(`a trailing "\"`)
			}
			i++
			if strings.IndexByte("*?[]{}", p[i]) >= 0 && p[i] != ']' && p[i] != '}' {
				return nil, false, fmt.Errorf("an escaped %q has no signet equivalent", p[i])
			}
			choices = []string{string(p[i])}
		case '[':
			end := strings.IndexByte(p[i+1:], ']')
			if end < 0 {
				return nil, false, errors.New(`"[" without "]"`)
			}
			class := p[i+1 : i+1+end]
			i += end + 1
			if strings.HasPrefix(class, "!") || strings.HasPrefix(class, "^") {
				choices, widened = []string{"?"}, true
				break
			}
			if choices, err = classChars(class); err != nil {
				return nil, false, err
			}
		case '{':
			end, alts, err := braceAlternatives(p, i)
			if err != nil {
				return nil, false, err
			}
			i = end
			for _, a := range alts {
				sub, w, err := expandAlternatives(a)
				if err != nil {
					return nil, false, err
				}
				widened = widened || w
				choices = append(choices, sub...)
				if len(choices) > maxExpansions {
					return nil, false, fmt.Errorf("more than %d alternatives", maxExpansions)
				}
			}
		default:
			for k := range out {
				out[k] += string(c)
			}
			continue
		}
		if len(out)*len(choices) > maxExpansions {
			return nil, false, fmt.Errorf("more than %d alternatives", maxExpansions)
		}
		next := make([]string, 0, len(out)*len(choices))
		for _, o := range out {
			for _, ch := range choices {
				next = append(next, o+ch)
			}
		}
		out = next
	}
	return out, widened, nil
}

// classChars lists the characters of a class body ("abc", "a-z0-9").
func classChars(class string) ([]string, error) {
	var out []string
	for j := 0; j < len(class); j++ {
		lo, hi := class[j], class[j]
		if j+2 < len(class) && class[j+1] == '-' {
			hi = class[j+2]
			j += 2
		}
		if hi < lo || int(hi-lo) >= maxExpansions {
			return nil, fmt.Errorf("class [%s]: too wide", class)
		}
		for c := lo; ; c++ {
			if strings.IndexByte("*?/:@", c) < 0 {
				out = append(out, string(c))
			}
			if c == hi {
				break
			}
		}
		if len(out) > maxExpansions {
			return nil, fmt.Errorf("class [%s]: more than %d characters", class, maxExpansions)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("class [%s] is empty", class)
	}
	return out, nil
}

// braceAlternatives splits the "{…}" at p[start] into its alternatives
// (nested braces kept whole) and returns the index of its "}".
func braceAlternatives(p string, start int) (int, []string, error) {
	depth, from := 0, start+1
	var alts []string
	for i := start; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i, append(alts, p[from:i]), nil
			}
		case ',':
			if depth == 1 {
				alts = append(alts, p[from:i])
				from = i + 1
			}
		}
	}
	return 0, nil, errors.New(`"{" without "}"`)
}

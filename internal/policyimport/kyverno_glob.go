package policyimport

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/policy"
)

// Kyverno matches imageReferences with a wildcard match ("*" any run of
// characters, "/" and ":" included; "?" any one character) against the
// image as it prints it: registry as written (docker.io added to names
// without one), path ("library/" added to one-component paths), then
// ":tag" — or "@digest" alone when the reference has a digest, the tag of
// tag@digest dropped. kyvernoPatterns translates one such pattern into the
// signet patterns that match the same references: a pattern can stand for
// several (the "*" of "*nginx*" may fall in the repository or in the tag).

// maxKyvernoPatternLen bounds a Kyverno pattern's length; maxPatternRules
// the signet patterns one translates into.
const (
	maxKyvernoPatternLen = 256
	maxPatternRules      = 16
)

// translation is the signet patterns for one Kyverno pattern.
type translation struct {
	patterns []string
	// notes say where the translation is not exact.
	notes []string
	// err: more signet patterns than maxPatternRules.
	err error
}

// kyvernoPatterns translates Kyverno pattern p.
func kyvernoPatterns(p string) translation {
	var tr translation
	switch {
	case p == "":
		tr.notes = append(tr.notes, "an empty pattern matches no image; not converted")
		return tr
	case len(p) > maxKyvernoPatternLen:
		tr.notes = append(tr.notes, fmt.Sprintf("a pattern longer than %d characters; not converted", maxKyvernoPatternLen))
		return tr
	case strings.ContainsAny(p, " \t\r\n"):
		tr.notes = append(tr.notes, fmt.Sprintf("pattern %q contains white space and matches no image; not converted", p))
		return tr
	}
	// Runs of "*" mean what one does.
	for strings.Contains(p, "**") {
		p = strings.ReplaceAll(p, "**", "*")
	}
	type names struct {
		tags      []string
		allDigest bool
		digests   []string
	}
	byName := map[string]*names{}
	var order []string
	get := func(n string) *names {
		if byName[n] == nil {
			byName[n] = &names{}
			order = append(order, n)
		}
		return byName[n]
	}
	partialDigest, slashQ, upper := false, false, false
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != ':' && c != '?' && c != '*' && c != '@' {
			continue
		}
		name, rest := p[:i], p[i+1:]
		if c == '*' {
			name, rest = p[:i+1], p[i:]
		}
		ns := kyvernoName(name)
		slashQ = slashQ || len(ns) > 0 && strings.Contains(name, "?")
		upper = upper || len(ns) > 0 && strings.ToLower(name) != name
		for _, n := range ns {
			// The separator is a tag's ':'.
			if c != '@' && validTagGlob(rest) {
				get(n).tags = append(get(n).tags, rest)
			}
			// The separator is a digest's '@'.
			if c != ':' && !strings.ContainsAny(rest, "/@") {
				switch {
				case strings.ContainsFunc(rest, func(r rune) bool { return !strings.ContainsRune("*?sha256:0123456789abcdef", r) }):
					// A character no sha256 digest holds.
				case !strings.ContainsAny(rest, "*?"):
					if digestRE.MatchString(rest) {
						get(n).digests = append(get(n).digests, rest)
					}
				case coversAllDigests(rest):
					get(n).allDigest = true
				case intersects(tokens(rest), tokens("sha256:"+strings.Repeat("?", 64)), newBudget(patternBudget)):
					// Some digests only: signet names digests in full.
					get(n).allDigest = true
					partialDigest = true
				}
			}
		}
	}
	broader := false
	for _, n := range order {
		e := byName[n]
		allTags := false
		for _, t := range e.tags {
			allTags = allTags || coversAllTags(t)
		}
		if e.allDigest {
			tr.patterns = append(tr.patterns, n)
			broader = broader || !allTags
			continue
		}
		if allTags {
			tr.patterns = append(tr.patterns, n+":*")
		} else {
			for _, t := range dedupe(e.tags) {
				tr.patterns = append(tr.patterns, n+":"+t)
			}
		}
		for _, d := range dedupe(e.digests) {
			tr.patterns = append(tr.patterns, n+"@"+d)
		}
	}
	var valid []string
	for _, q := range dedupe(tr.patterns) {
		if _, err := policy.CompilePattern(q); err != nil {
			tr.notes = append(tr.notes, fmt.Sprintf("pattern %q translates to %q, which signet refuses (%v); not converted", p, q, err))
			continue
		}
		valid = append(valid, q)
	}
	tr.patterns = valid
	if partialDigest {
		tr.notes = append(tr.notes, fmt.Sprintf("pattern %q matches some digests only; signet names a digest in full, so the converted pattern matches every digest of the repositories (stricter)", p))
	}
	if broader {
		tr.notes = append(tr.notes, fmt.Sprintf("pattern %q matches references by digest but only some tags; signet's pattern without a tag also matches the other tags (stricter)", p))
	}
	if upper {
		// Repository paths are lower case: an upper-case letter matches a
		// registry host written so, which signet reads as lower case.
		tr.notes = append(tr.notes, fmt.Sprintf("pattern %q: Kyverno compares registry hosts as written, signet without regard to case; the converted pattern matches the host in any case (stricter)", p))
	}
	if slashQ {
		tr.notes = append(tr.notes, fmt.Sprintf("pattern %q: Kyverno's \"?\" in a repository also matches \"/\"; signet's does not", p))
	}
	if len(tr.patterns) > maxPatternRules {
		tr.err = fmt.Errorf("pattern %q stands for %d signet patterns, more than %d", p, len(tr.patterns), maxPatternRules)
		tr.patterns = nil
	}
	if len(tr.patterns) == 0 {
		tr.notes = append(tr.notes, fmt.Sprintf("pattern %q matches no image in Kyverno (it compares against names such as docker.io/library/nginx:1.27 and ghcr.io/acme/app@sha256:…); not converted", p))
	}
	return tr
}

// kyvernoName translates the part of a Kyverno pattern that matches the
// repository name into the signet repository patterns matching the same
// names; none when it can match no name as Kyverno prints them.
func kyvernoName(k string) []string {
	if k == "" || strings.Contains(k, "@") {
		return nil
	}
	s := strings.ReplaceAll(k, "*", "**")
	first, rest, multi := strings.Cut(k, "/")
	if strings.ContainsAny(first, "*?") {
		// A wildcard host (or a wildcard spanning the host): signet reads
		// the first component as a host pattern, as Kyverno's names have one.
		switch {
		case strings.ContainsAny(k, "[]{}\\!") || strings.Contains(rest, ":"):
			return nil // no name has these
		case !multi && strings.Contains(first, ":"):
			// "host:5000*": the ':' is the port's (names hold no other), so
			// the host and port hold no '/', and the last '*' runs on into
			// the path.
			// Each '*' of the port may be the one that runs on.
			host, port, _ := strings.Cut(first, ":")
			var out []string
			for j := 0; j < len(port); j++ {
				if strings.ContainsFunc(port[:j+1], func(r rune) bool { return !strings.ContainsRune("0123456789*?", r) }) {
					break
				}
				if port[j] == '*' {
					out = append(out, host+":"+port[:j+1]+"/"+strings.ReplaceAll("*"+port[j+1:], "*", "**"))
				}
			}
			return out
		}
		return []string{s}
	}
	if !multi {
		return nil // Kyverno's names always hold a "/"
	}
	// A literal host: Kyverno's names start with a registry host.
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		return nil
	}
	if strings.ContainsAny(rest, ":[]{}\\!") || strings.ContainsAny(first, "{}\\!") {
		return nil
	}
	if rest == "" || strings.HasPrefix(rest, "/") || strings.Contains(rest, "//") {
		return nil
	}
	host, err := imageref.NormaliseHost(first)
	if err != nil {
		return nil
	}
	if !strings.ContainsAny(rest, "*?/") {
		// A one-component path: Kyverno prints it as library/NAME, on every
		// registry, so a pattern naming it without library/ matches nothing.
		return nil
	}
	if !imageref.IsDockerHub(host) && strings.HasPrefix(rest, "library/") && !strings.Contains(strings.TrimPrefix(rest, "library/"), "/") && !strings.ContainsAny(rest, "*?") {
		// Kyverno prints signet's ghcr.io/app as ghcr.io/library/app.
		return []string{host + "/" + rest, host + "/" + strings.TrimPrefix(rest, "library/")}
	}
	return []string{strings.ReplaceAll(host+"/"+rest, "*", "**")}
}

// digestRE is a sha256 digest, the algorithm image references use.
var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// validTagGlob reports whether Kyverno glob t can match a tag.
func validTagGlob(t string) bool {
	if t == "" || strings.ContainsAny(t, "/:@[]{}\\!") {
		return false
	}
	return true
}

// coversAllTags reports whether glob t matches every tag.
func coversAllTags(t string) bool { return strings.Trim(t, "*") == "" }

// coversAllDigests reports whether glob d matches every sha256 digest.
func coversAllDigests(d string) bool {
	return covers(tokens(d), tokens("sha256:"+strings.Repeat("?", 64)), newBudget(patternBudget))
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// normalisedPattern compiles a signet pattern and returns its normalised
// form.
func normalisedPattern(p string) (string, error) {
	c, err := policy.CompilePattern(p)
	if err != nil {
		return "", err
	}
	return c.Normalised(), nil
}

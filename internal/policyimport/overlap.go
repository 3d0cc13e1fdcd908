package policyimport

import (
	"strings"

	"github.com/signet-dev/signet/internal/policy"
)

// overlap reports whether some image reference could match both patterns:
// their repository globs have a common match, their tag globs too when
// both name a tag, and their digests are not two different ones. It is
// exact for the globs ("*", "**", "?" and literals) and errs towards true
// for tags and digests, which is the safe side for its callers (a policy
// that might apply is required).
func overlap(a, b *policy.Pattern) bool {
	ar, at, ad := splitPattern(a.Normalised())
	br, bt, bd := splitPattern(b.Normalised())
	if ad != "" && bd != "" && ad != bd {
		return false
	}
	if la, lb := literal(ar), literal(br); !strings.HasPrefix(la, lb) && !strings.HasPrefix(lb, la) {
		return false // the common start differs: no need to search
	}
	if at != "" && bt != "" && !globsMeet(at, bt) {
		return false
	}
	return globsMeet(ar, br)
}

// literal is a glob's start before its first wildcard.
func literal(g string) string {
	if i := strings.IndexAny(g, "*?"); i >= 0 {
		return g[:i]
	}
	return g
}

// splitPattern splits a normalised pattern into repository, tag and
// digest.
func splitPattern(s string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(s, "@")
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

// globToken is one element of a glob: a literal byte, '?', '*' (any run
// without '/') or '*'+'*' written as 'A' (any run).
type globToken struct {
	kind byte // 'c' literal, '?', '*', 'A'
	c    byte
}

func globTokens(g string) []globToken {
	var out []globToken
	for i := 0; i < len(g); i++ {
		switch {
		case g[i] == '*' && i+1 < len(g) && g[i+1] == '*':
			out = append(out, globToken{kind: 'A'})
			i++
		case g[i] == '*' || g[i] == '?':
			out = append(out, globToken{kind: g[i]})
		default:
			out = append(out, globToken{kind: 'c', c: g[i]})
		}
	}
	return out
}

// tokenPair returns the tokens of two globs and first, which reports
// whether a search over pairs of their positions reaches (i, j) for the
// first time.
func tokenPair(a, b string) (ta, tb []globToken, first func(i, j int) bool) {
	ta, tb = globTokens(a), globTokens(b)
	seen := make([]bool, (len(ta)+1)*(len(tb)+1))
	return ta, tb, func(i, j int) bool {
		k := i*(len(tb)+1) + j
		if seen[k] {
			return false
		}
		seen[k] = true
		return true
	}
}

// globsMeet reports whether two globs match a common string: a search over
// pairs of positions (at most (len+1)² of them, patterns being at most 512
// characters).
func globsMeet(a, b string) bool {
	ta, tb, first := tokenPair(a, b)
	var meet func(i, j int) bool
	meet = func(i, j int) bool {
		if !first(i, j) {
			return false
		}
		if i == len(ta) && j == len(tb) {
			return true
		}
		star := func(t globToken) bool { return t.kind == '*' || t.kind == 'A' }
		if i < len(ta) && star(ta[i]) && meet(i+1, j) {
			return true
		}
		if j < len(tb) && star(tb[j]) && meet(i, j+1) {
			return true
		}
		if i == len(ta) || j == len(tb) || !sameChar(ta[i], tb[j]) {
			return false
		}
		ni, nj := i+1, j+1
		if star(ta[i]) {
			ni = i
		}
		if star(tb[j]) {
			nj = j
		}
		return meet(ni, nj) || star(ta[i]) && meet(i+1, nj) || star(tb[j]) && meet(ni, j+1)
	}
	return meet(0, 0)
}

// sameChar reports whether one character can be matched by both tokens.
func sameChar(x, y globToken) bool {
	switch {
	case x.kind == 'c' && y.kind == 'c':
		return x.c == y.c
	case x.kind == 'c':
		return y.kind == 'A' || x.c != '/'
	case y.kind == 'c':
		return x.kind == 'A' || y.c != '/'
	}
	return true // two wildcards: any character but '/' will do
}

// contains reports whether every image reference b matches, a matches
// too. It is sound, not complete: true is certain; false may be wrong for
// contrived globs ("?*" within "*?"), and callers only lose exactness
// there, never safety.
func contains(a, b *policy.Pattern) bool {
	ar, at, ad := splitPattern(a.Normalised())
	br, bt, bd := splitPattern(b.Normalised())
	switch {
	case ad != "" && ad != bd:
		return false
	case !strings.HasPrefix(literal(br), literal(ar)):
		return false // b's strings may leave a's literal start
	case at != "" && (bt == "" || !globCovers(at, bt)):
		return false
	}
	return globCovers(ar, br)
}

// globCovers reports whether glob a matches every string glob b matches,
// by matching a against b's tokens: a wildcard of b can only be taken in
// by a wildcard of a at least as wide.
func globCovers(a, b string) bool {
	ta, tb, first := tokenPair(a, b)
	var cover func(i, j int) bool
	cover = func(i, j int) bool {
		if !first(i, j) {
			return false
		}
		if i == len(ta) {
			return j == len(tb)
		}
		x := ta[i]
		star := x.kind == '*' || x.kind == 'A'
		if star && cover(i+1, j) {
			return true // a's wildcard takes in nothing more
		}
		if j == len(tb) {
			return false
		}
		y := tb[j]
		var ok bool
		switch x.kind {
		case 'A':
			ok = true
		case '*':
			ok = y.kind == '*' || y.kind == '?' || y.kind == 'c' && y.c != '/'
		case '?':
			ok = y.kind == '?' || y.kind == 'c' && y.c != '/'
		default:
			ok = y.kind == 'c' && y.c == x.c
		}
		if !ok {
			return false
		}
		if star {
			return cover(i, j+1) || cover(i+1, j+1)
		}
		return cover(i+1, j+1)
	}
	return cover(0, 0)
}

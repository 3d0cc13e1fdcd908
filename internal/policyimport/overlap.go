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
	if at != "" && bt != "" && !globsMeet(at, bt) {
		return false
	}
	return globsMeet(ar, br)
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

func tokens(g string) []globToken {
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

// globsMeet reports whether two globs match a common string: a search over
// pairs of positions (at most (len+1)² of them, patterns being at most 512
// characters).
func globsMeet(a, b string) bool {
	ta, tb := tokens(a), tokens(b)
	seen := make([]bool, (len(ta)+1)*(len(tb)+1))
	var meet func(i, j int) bool
	meet = func(i, j int) bool {
		k := i*(len(tb)+1) + j
		if seen[k] {
			return false
		}
		seen[k] = true
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

package policyimport

import (
	"strings"

	"github.com/signet-dev/signet/internal/policy"
)

// The glob algebra over signet patterns the converters share: whether one
// pattern applies to every reference another applies to (patternCovers,
// over globs covers) and whether some reference could match both
// (patternsOverlap, over globs intersects). Globs are signet's: "**" any
// run, "*" a run without "/", "?" one character but "/", other characters
// literal. Every comparison is bounded by a budget of steps; when it runs
// out a comparison cannot tell and answers on its caller's safe side:
// "does not cover" and "may intersect".
//
// The Connaisseur and policy-controller conversions had their own copy,
// unbounded, with the same tokens, '?' (one character but "/"), split of
// a pattern and answers; they now call overlap and contains, which give
// each comparison a fresh patternBudget and keep their stricter
// containment shortcut (see contains). The Kyverno conversion's covers
// took an anySlash flag (p's "?" and "*" standing for "/") that no caller
// set: it is gone, with the unused token.admits.

// budget bounds the steps of glob comparisons: a pattern's translation or
// one comparison of two patterns (patternBudget), a whole Kyverno
// conversion (conversionBudget). Past it a comparison cannot tell, and the
// Kyverno conversion is refused.
type budget struct {
	left int
	out  bool
}

// patternBudget is also more than one comparison of two of signet's
// longest patterns (512 characters) can take — two searches of at most
// 513² states each, and their memos, about 600 000 steps — so overlap and
// contains, which get a fresh one per comparison, never run out (should
// they, they answer on the safe side).
const (
	patternBudget    = 1 << 20
	conversionBudget = 20 << 20
)

func newBudget(n int) *budget { return &budget{left: n} }

// spend takes one step, false when none is left.
func (b *budget) spend() bool { return b.take(1) }

// take takes n steps, false when fewer are left.
func (b *budget) take(n int) bool {
	if b.left < n {
		b.left, b.out = 0, true
		return false
	}
	b.left -= n
	return true
}

// memoCost is what a comparison's memo costs, in steps: the bytes it
// clears, eight to a step.
func memoCost(q, p []token) int { return 1 + (len(q)+1)*(len(p)+1)/8 }

// A glob token: a literal byte, or one of the wildcards.
type token struct {
	kind byte // 'c' literal, '?' one character but "/", '*' a run without "/", 'A' any run
	c    byte
}

// tokens reads a signet glob ("**" any run, "*" a run within a component).
func tokens(g string) []token {
	out := make([]token, 0, len(g))
	for i := 0; i < len(g); i++ {
		switch {
		case g[i] == '*' && i+1 < len(g) && g[i+1] == '*':
			out = append(out, token{kind: 'A'})
			i++
		case g[i] == '*':
			out = append(out, token{kind: '*'})
		case g[i] == '?':
			out = append(out, token{kind: '?'})
		default:
			out = append(out, token{kind: 'c', c: g[i]})
		}
	}
	return out
}

func (t token) loop() bool { return t.kind == '*' || t.kind == 'A' }

// covers reports whether every string glob p matches, glob q matches too,
// by matching q against p's tokens: a wildcard of p can only be taken in
// by a wildcard of q at least as wide. It is sound, not complete: true is
// certain; false may also mean "could not tell" (the budget ran out, or
// contrived globs such as "?*" within "*?"), and callers only lose
// exactness there, never safety.
func covers(q, p []token, b *budget) bool {
	return memoised(q, p, b, true)
}

func (s *search) coverStep(i, j int) bool {
	q, p := s.q, s.p
	switch {
	case j == len(p):
		for _, t := range q[i:] {
			if !t.loop() {
				return false
			}
		}
		return true
	case i == len(q):
		return false
	}
	qt, pt := q[i], p[j]
	switch {
	case qt.kind == 'A':
		return s.rec(i+1, j) || s.rec(i, j+1)
	case qt.kind == '*':
		return s.rec(i+1, j) || (pt.kind != 'A' && !(pt.kind == 'c' && pt.c == '/') && s.rec(i, j+1))
	case pt.loop():
		return false
	case qt.kind == '?':
		return (pt.kind == '?' || pt.c != '/') && s.rec(i+1, j+1)
	}
	return pt.kind == 'c' && pt.c == qt.c && s.rec(i+1, j+1)
}

// intersects reports whether some string matches both globs: exact for
// signet's globs, and true also when the budget runs out (the safe side:
// a Kyverno conversion is then refused, a Connaisseur or policy-controller
// rule gets the policy that might apply).
func intersects(q, p []token, b *budget) bool {
	return memoised(q, p, b, false)
}

func (s *search) meetStep(i, j int) bool {
	q, p := s.q, s.p
	switch {
	case i == len(q) && j == len(p):
		return true
	case i < len(q) && q[i].loop() && s.rec(i+1, j):
		return true
	case j < len(p) && p[j].loop() && s.rec(i, j+1):
		return true
	case i == len(q) || j == len(p) || !charsMeet(q[i], p[j]):
		return false
	}
	ni, nj := i+1, j+1
	if q[i].loop() {
		ni = i
	}
	if p[j].loop() {
		nj = j
	}
	return (ni != i || nj != j) && s.rec(ni, nj)
}

// search is one comparison of globs q and p over the states (i, j) — the
// rest of q from i, of p from j — each computed once, within budget b:
// covers (coverStep) or intersects (meetStep).
type search struct {
	q, p  []token
	b     *budget
	cover bool
	m     memo
}

// memoised runs a comparison; its answer when the budget runs out is the
// caller's safe side: false for covers, true for intersects.
func memoised(q, p []token, b *budget, cover bool) bool {
	if !b.take(memoCost(q, p)) {
		return !cover
	}
	s := search{q: q, p: p, b: b, cover: cover, m: newMemo(len(q), len(p))}
	return s.rec(0, 0)
}

func (s *search) rec(i, j int) bool {
	if v, done := s.m.get(i, j); done {
		return v
	}
	if !s.b.spend() {
		return !s.cover
	}
	s.m.start(i, j)
	var r bool
	if s.cover {
		r = s.coverStep(i, j)
	} else {
		r = s.meetStep(i, j)
	}
	s.m.set(i, j, r)
	return r
}

// memo holds a comparison's states: unknown, in progress (a cycle, which
// adds nothing: false), false, true.
type memo struct {
	w int
	s []byte
}

func newMemo(n, m int) memo { return memo{w: m + 1, s: make([]byte, (n+1)*(m+1))} }

func (m memo) get(i, j int) (v, done bool) {
	switch m.s[i*m.w+j] {
	case 1, 2:
		return false, true
	case 3:
		return true, true
	}
	return false, false
}

func (m memo) start(i, j int) { m.s[i*m.w+j] = 1 }

func (m memo) set(i, j int, v bool) {
	m.s[i*m.w+j] = 2
	if v {
		m.s[i*m.w+j] = 3
	}
}

// charsMeet reports whether some character is consumed by both tokens.
func charsMeet(a, b token) bool {
	switch {
	case a.kind == 'c' && b.kind == 'c':
		return a.c == b.c
	case a.kind == 'c':
		return b.kind == 'A' || a.c != '/'
	case b.kind == 'c':
		return a.kind == 'A' || b.c != '/'
	}
	return true // two wildcards: any character but "/" will do
}

// patternParts splits a normalised signet pattern into repository, tag and
// digest.
func patternParts(norm string) (repo, tag, digest string) {
	rest, digest, _ := strings.Cut(norm, "@")
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		return rest[:i], rest[i+1:], digest
	}
	return rest, "", digest
}

// patternCovers reports whether signet pattern q applies to every
// reference pattern p applies to (both normalised): q's repository glob
// covers p's, q's tag glob (if any) p's tag glob, and q's digest (if any)
// is p's. False when budget b is or runs out.
//
// The shortcut is prefixesAgree, which the Kyverno conversion has always
// used; contains adds the Connaisseur and policy-controller conversions'
// stricter one (q's literal start a prefix of p's). Both only ever turn a
// false of covers into an early false (when p's literal start does not
// begin with q's, p matches strings leaving q's literal start), so the
// answer is the same; keeping prefixesAgree alone here keeps the steps a
// Kyverno conversion spends, hence where it is refused, unchanged.
func patternCovers(q, p string, b *budget) bool {
	if b.out {
		return false
	}
	qr, qt, qd := patternParts(q)
	pr, pt, pd := patternParts(p)
	if !prefixesAgree(qr, pr) || !covers(tokens(qr), tokens(pr), b) {
		return false
	}
	if qt != "" && (pt == "" || !covers(tokens(qt), tokens(pt), b)) {
		return false
	}
	return qd == "" || qd == pd
}

// patternsOverlap reports whether some reference could match both signet
// patterns (both normalised): their repository globs intersect, their tag
// globs too when both name a tag, and their digests are not two different
// ones. It is exact for the globs and errs towards true for tags and
// digests (a tag names any digest); true when budget b is or runs out.
func patternsOverlap(q, p string, b *budget) bool {
	if b.out {
		return true
	}
	qr, qt, qd := patternParts(q)
	pr, pt, pd := patternParts(p)
	if !prefixesAgree(qr, pr) || !intersects(tokens(qr), tokens(pr), b) {
		return false
	}
	if qt != "" && pt != "" && !intersects(tokens(qt), tokens(pt), b) {
		return false
	}
	return qd == "" || pd == "" || qd == pd
}

// prefixesAgree reports whether the literal prefixes of two globs (up to
// their first wildcard) are one a prefix of the other: without it, no
// string matches both. It spares most pairs of rules the comparison.
func prefixesAgree(a, b string) bool {
	a, b = a[:literalLen(a)], b[:literalLen(b)]
	return strings.HasPrefix(a, b) || strings.HasPrefix(b, a)
}

func literalLen(g string) int {
	if i := strings.IndexAny(g, "*?"); i >= 0 {
		return i
	}
	return len(g)
}

// overlap is patternsOverlap for compiled patterns, within a fresh
// patternBudget: the Connaisseur and policy-controller conversions compare
// each pair of rules on its own. Running out (which patternBudget rules
// out) answers true, their safe side: a policy that might apply is
// required.
func overlap(a, b *policy.Pattern) bool {
	bud := budget{left: patternBudget}
	return patternsOverlap(a.Normalised(), b.Normalised(), &bud)
}

// contains is patternCovers for compiled patterns, within a fresh
// patternBudget (see overlap). Running out answers false, their safe side:
// a rule does not take another's validator, a policy is noted as applying
// in part.
//
// Before the comparison it keeps the Connaisseur and policy-controller
// conversions' own shortcut, stricter than prefixesAgree: b's literal
// start must begin with a's. It gives the same answer (see patternCovers)
// and spares the searches a policy-controller input of many "rN.io/**"
// and "**" globs would otherwise make.
func contains(a, b *policy.Pattern) bool {
	q, p := a.Normalised(), b.Normalised()
	qr, _, _ := patternParts(q)
	pr, _, _ := patternParts(p)
	if !strings.HasPrefix(pr[:literalLen(pr)], qr[:literalLen(qr)]) {
		return false // p's strings may leave q's literal start
	}
	bud := budget{left: patternBudget}
	return patternCovers(q, p, &bud)
}

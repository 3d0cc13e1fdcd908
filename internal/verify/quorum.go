package verify

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Quorum decides whether the valid signatures found are enough: at least
// Threshold trust roots out of Roots, including every root in Required,
// each satisfied by a signer of its own. It is bound when a policy
// compiles.
//
// One signer counts for at most one trust root: the same key under two
// names, a keyless identity two roots both accept, or a certificate two
// Notation roots both trust is one signer, not two. Which root a signer
// counts for is chosen by a maximum bipartite matching between signers and
// trust roots (required roots first), so the quorum is met exactly when
// some assignment of distinct signers to distinct roots meets it.
type Quorum struct {
	Roots     []string
	Threshold int
	Required  []string
}

// Satisfied reports whether the passed checks meet the quorum.
func (q Quorum) Satisfied(checks []Check) bool {
	m := q.match(checks)
	return len(m.missing) == 0 && len(m.roots) >= q.Threshold
}

// Signers returns the trust roots the passed checks satisfy, each with a
// distinct signer (a maximum matching), sorted. It is what
// Result.Signers holds.
func (q Quorum) Signers(checks []Check) []string {
	m := q.match(checks)
	out := make([]string, 0, len(m.roots))
	for r := range m.roots {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// Missing returns the required roots that no signer of their own
// satisfies.
func (q Quorum) Missing(checks []Check) []string { return q.match(checks).missing }

// Shortfall explains in words why the checks do not meet the quorum.
func (q Quorum) Shortfall(checks []Check) string {
	m := q.match(checks)
	var parts []string
	if n := len(m.roots); n < q.Threshold {
		parts = append(parts, fmt.Sprintf("%d of %d required valid signatures from trust roots [%s] (each from a distinct signer)",
			n, q.Threshold, strings.Join(q.Roots, ", ")))
	}
	if len(m.missing) > 0 {
		parts = append(parts, fmt.Sprintf("no valid signature from required trust roots [%s] (each from a distinct signer)", strings.Join(m.missing, ", ")))
	}
	return strings.Join(parts, "; ")
}

// Saturated reports whether root already has as many distinct signers in
// checks as the quorum has roots: more signatures valid for root cannot
// change the matching, so a verifier may stop testing root.
func (q Quorum) Saturated(checks []Check, root string) bool {
	seen := map[string]bool{}
	for _, c := range checks {
		if c.Passed && c.TrustRoot == root {
			seen[SignerOf(c)] = true
		}
	}
	return len(seen) >= max(1, len(q.Roots))
}

// SignerOf returns who made the signature a passed check accepted: its
// Signer, or, when a verifier recorded none, the signature itself (so that
// one signature still counts once).
func SignerOf(c Check) string {
	if c.Signer != "" {
		return c.Signer
	}
	return "signature " + c.Signature
}

// KeySigner names a signer by its public key: "key sha256:<hex>" of the
// key's PKIX (SubjectPublicKeyInfo) DER encoding. Two trust roots holding
// the same key, however written, get the same name.
func KeySigner(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encoding public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return "key sha256:" + hex.EncodeToString(sum[:]), nil
}

// matching is a maximum matching of trust roots to distinct signers.
type matching struct {
	roots   map[string]string // trust root → its signer
	missing []string          // required roots left unmatched
}

// match finds a maximum matching between the quorum's roots and the
// signers of the passed checks (Kuhn's augmenting paths). Required roots
// are matched first; augmenting paths never unmatch a root, so when every
// required root can be matched together, they all are, and the matching
// is still maximum (matchable sets of roots form a matroid). Its cost is
// O(roots × edges): a verifier reads at most a few dozen signatures, and a
// policy names a handful of roots.
func (q Quorum) match(checks []Check) matching {
	edges := map[string][]string{} // trust root → signers, in check order
	for _, c := range checks {
		if !c.Passed || c.TrustRoot == "" || !slices.Contains(q.Roots, c.TrustRoot) {
			continue
		}
		if s := SignerOf(c); !slices.Contains(edges[c.TrustRoot], s) {
			edges[c.TrustRoot] = append(edges[c.TrustRoot], s)
		}
	}
	m := matching{roots: map[string]string{}}
	owner := map[string]string{} // signer → the root it counts for
	var augment func(root string, visited map[string]bool) bool
	augment = func(root string, visited map[string]bool) bool {
		for _, s := range edges[root] {
			if visited[s] {
				continue
			}
			visited[s] = true
			if o, taken := owner[s]; !taken || augment(o, visited) {
				owner[s], m.roots[root] = root, s
				return true
			}
		}
		return false
	}
	order := slices.Clone(q.Required)
	for _, r := range q.Roots {
		if !slices.Contains(order, r) {
			order = append(order, r)
		}
	}
	for _, r := range order {
		if _, done := m.roots[r]; !done && !augment(r, map[string]bool{}) && slices.Contains(q.Required, r) {
			m.missing = append(m.missing, r)
		}
	}
	return m
}

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

// Tally follows, over one verification's growing list of checks, how many
// distinct signers each trust root has, reading each check once.
type Tally struct {
	q       Quorum
	read    int
	signers map[string]map[string]bool
}

// Tally returns an empty tally for q.
func (q Quorum) Tally() *Tally { return &Tally{q: q, signers: map[string]map[string]bool{}} }

// Signers returns how many distinct signers root has in checks, which must
// extend the checks of the previous call.
func (t *Tally) Signers(checks []Check, root string) int {
	for ; t.read < len(checks); t.read++ {
		c := checks[t.read]
		if !c.Passed || c.TrustRoot == "" {
			continue
		}
		if t.signers[c.TrustRoot] == nil {
			t.signers[c.TrustRoot] = map[string]bool{}
		}
		t.signers[c.TrustRoot][SignerOf(c)] = true
	}
	return len(t.signers[root])
}

// Saturated reports whether root already has as many distinct signers in
// checks as the quorum has roots: more signatures valid for root cannot
// change the matching, so a verifier may stop testing root.
func (t *Tally) Saturated(checks []Check, root string) bool {
	return t.Signers(checks, root) >= max(1, len(t.q.Roots))
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
// O(roots × edges): a verifier reads at most 128 signatures, and a policy
// names a handful of roots (BenchmarkQuorumMatching: 128 signers × 64
// roots, every edge, under a millisecond).
func (q Quorum) match(checks []Check) matching {
	// Roots in matching order, required first, as indices.
	var order []string
	index := map[string]int{}
	for _, r := range append(slices.Clone(q.Required), q.Roots...) {
		if _, dup := index[r]; !dup && slices.Contains(q.Roots, r) {
			index[r] = len(order)
			order = append(order, r)
		}
	}
	var names []string // signer index → name
	signerIndex := map[string]int{}
	adj := make([][]int, len(order)) // root → signers, in check order, once each
	for _, c := range checks {
		r, ok := index[c.TrustRoot]
		if !c.Passed || !ok {
			continue
		}
		name := SignerOf(c)
		s, ok := signerIndex[name]
		if !ok {
			s = len(names)
			signerIndex[name] = s
			names = append(names, name)
		}
		if !slices.Contains(adj[r], s) {
			adj[r] = append(adj[r], s)
		}
	}
	owner := make([]int, len(names)) // signer → root + 1; 0 when free
	seen := make([]int, len(names))  // signer → the search that visited it
	search := 0
	var augment func(r int) bool
	augment = func(r int) bool {
		for _, s := range adj[r] {
			if owner[s] == 0 {
				owner[s] = r + 1
				return true
			}
		}
		for _, s := range adj[r] {
			if seen[s] == search {
				continue
			}
			seen[s] = search
			if augment(owner[s] - 1) {
				owner[s] = r + 1
				return true
			}
		}
		return false
	}
	m := matching{roots: map[string]string{}}
	for r, name := range order {
		search++
		if !augment(r) && slices.Contains(q.Required, name) {
			m.missing = append(m.missing, name)
		}
	}
	for s, o := range owner {
		if o > 0 {
			m.roots[order[o-1]] = names[s]
		}
	}
	return m
}

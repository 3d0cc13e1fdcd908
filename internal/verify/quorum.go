package verify

import (
	"fmt"
	"slices"
	"strings"
)

// Quorum decides whether a set of valid signers is enough: at least
// Threshold distinct trust roots out of Roots, including every root in
// Required. It is bound when a policy compiles.
type Quorum struct {
	Roots     []string
	Threshold int
	Required  []string
}

// Satisfied reports whether signers meet the quorum.
func (q Quorum) Satisfied(signers []string) bool {
	return len(q.Missing(signers)) == 0 && q.count(signers) >= q.Threshold
}

// Missing returns the required roots absent from signers.
func (q Quorum) Missing(signers []string) []string {
	var out []string
	for _, r := range q.Required {
		if !slices.Contains(signers, r) {
			out = append(out, r)
		}
	}
	return out
}

func (q Quorum) count(signers []string) int {
	n := 0
	for _, s := range signers {
		if slices.Contains(q.Roots, s) {
			n++
		}
	}
	return n
}

// Shortfall explains in words why signers do not meet the quorum.
func (q Quorum) Shortfall(signers []string) string {
	var parts []string
	if n := q.count(signers); n < q.Threshold {
		parts = append(parts, fmt.Sprintf("%d of %d required valid signatures from trust roots [%s]",
			n, q.Threshold, strings.Join(q.Roots, ", ")))
	}
	if m := q.Missing(signers); len(m) > 0 {
		parts = append(parts, fmt.Sprintf("no valid signature from required trust roots [%s]", strings.Join(m, ", ")))
	}
	return strings.Join(parts, "; ")
}

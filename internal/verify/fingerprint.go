package verify

import (
	"context"
	"fmt"
	"strings"
)

// MaterialFingerprint implements MaterialFingerprinter for a rule naming
// several validators: the members' fingerprints, in order. A member whose
// material cannot be resolved makes the whole unresolved.
func (a all) MaterialFingerprint(ctx context.Context) (string, error) {
	parts := make([]string, len(a))
	some := false
	for i, m := range a {
		f, ok := m.Verifier.(MaterialFingerprinter)
		if !ok {
			continue
		}
		fp, err := f.MaterialFingerprint(ctx)
		if err != nil {
			return "", fmt.Errorf("validator %s: %w", m.Name, err)
		}
		parts[i], some = fp, some || fp != ""
	}
	if !some {
		return "", nil
	}
	return strings.Join(parts, ","), nil
}

package metrics

import (
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"
)

// Every label value signet records comes from a closed set: webhook,
// decision, outcome, layer and result are constants in signet's code; an
// admission's kind is one of the kinds signet reads or "other" (package
// admission maps it); the policy's name and hash are those of the one
// policy in force (signet_policy_info is reset on each reload). The two
// label values taken from elsewhere are bounded here: validator names come
// from the policy, and so are bounded by it, but they add up over policy
// reloads; registry hosts come from image references and redirects, so any
// Pod author names new ones.
const (
	// MaxValidatorLabels bounds the distinct validator label values of
	// signet_verifications_total and signet_verification_duration_seconds
	// over the life of the process.
	MaxValidatorLabels = 256
	// MaxRequirementLabels bounds the distinct attestation requirement
	// names of signet_attestation_checks_total over the life of the
	// process (names come from the policy, as validator names do).
	MaxRequirementLabels = 256
	// MaxRegistryLabels bounds the distinct registry label values of
	// signet_registry_requests_total over the life of the process.
	MaxRegistryLabels = 64
	// MaxLabelBytes bounds the length of a label value taken from
	// elsewhere: a DNS name has at most 253 characters.
	MaxLabelBytes = 253
	// Other is the label value of everything past a bound.
	Other = "other"
)

// labelSet admits the first max distinct values of a label, each at most
// MaxLabelBytes long, and maps every other value to Other: a series lives
// as long as the process, so a label fed by requests must not grow with
// them.
type labelSet struct {
	mu   sync.Mutex
	max  int
	seen map[string]struct{}
}

func newLabelSet(max int) *labelSet {
	return &labelSet{max: max, seen: make(map[string]struct{}, max)}
}

func (l *labelSet) value(v string) string {
	if len(v) > MaxLabelBytes || !utf8.ValidString(v) {
		return Other
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[v]; ok {
		return v
	}
	if len(l.seen) >= l.max {
		return Other
	}
	l.seen[v] = struct{}{}
	return v
}

// statusLabel is the status label of a registry request: "error", a status
// code net/http knows, or Other (a registry may answer with any of 900).
func statusLabel(s string) string {
	if s == "error" {
		return s
	}
	if code, err := strconv.Atoi(s); err != nil || http.StatusText(code) == "" {
		return Other
	}
	return s
}

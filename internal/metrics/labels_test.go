package metrics

import (
	"fmt"
	"strings"
	"testing"
)

// series returns how many series the metric family name has, the longest
// label value, and the count recorded under the label value Other.
func series(t *testing.T, m *Metrics, name string) (n, longest int, other float64) {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, s := range mf.GetMetric() {
			n++
			for _, l := range s.GetLabel() {
				longest = max(longest, len(l.GetValue()))
				if l.GetValue() == Other {
					other = s.GetCounter().GetValue() + float64(s.GetHistogram().GetSampleCount())
				}
			}
		}
	}
	return n, longest, other
}

func TestLabelBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		record func(m *Metrics, v string)
		metric string
		max    int
	}{
		{"registry hosts", func(m *Metrics, v string) { m.RegistryRequest(v, "200") }, "signet_registry_requests_total", MaxRegistryLabels},
		{"validators", func(m *Metrics, v string) { m.Verification(v, "verified") }, "signet_verifications_total", MaxValidatorLabels},
		{"validator latency", func(m *Metrics, v string) { m.VerificationLatency(v, 0) }, "signet_verification_duration_seconds", MaxValidatorLabels},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New()
			for i := range 10 * tc.max {
				tc.record(m, fmt.Sprintf("host-%d.example", i))
			}
			tc.record(m, strings.Repeat("a", 6<<20))
			tc.record(m, "bad\xffutf8")
			n, longest, other := series(t, m, tc.metric)
			if n != tc.max+1 {
				t.Fatalf("%d series, want %d and %q", n, tc.max, Other)
			}
			if longest > MaxLabelBytes {
				t.Errorf("a label value of %d bytes", longest)
			}
			// Values seen first keep their series; the rest are counted.
			if want := float64(9*tc.max + 2); other != want {
				t.Errorf("%q counted %v, want %v", Other, other, want)
			}
			tc.record(m, "host-0.example")
			if n, _, _ := series(t, m, tc.metric); n != tc.max+1 {
				t.Errorf("%d series after a known value, want %d", n, tc.max+1)
			}
		})
	}
}

func TestStatusLabel(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"200": "200", "404": "404", "error": "error", "599": Other, "999": Other, "x": Other} {
		if got := statusLabel(in); got != want {
			t.Errorf("statusLabel(%q) = %q, want %q", in, got, want)
		}
	}
}

package attest

import "testing"

// TestOptionalsCompile: a loop over what an optional holds is estimated
// like a loop over the predicate, not as unbounded (trivy's vulnerability
// reports leave Vulnerabilities out when there are none).
func TestOptionalsCompile(t *testing.T) {
	t.Parallel()
	for _, e := range []string{
		`!predicate.scanner.result.Results.exists(r, r.?Vulnerabilities.orValue([]).exists(v, v.Severity == "CRITICAL"))`,
		`predicate.?x.orValue([]).exists(v, v == 1)`,
		`predicate.?x.or(predicate.?y).value().exists(v, v == 1)`,
	} {
		if _, errs := Compile([]Condition{{Expression: e}}); errs != nil {
			t.Errorf("%s: %v", e, errs)
		}
	}
}

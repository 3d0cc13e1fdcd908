package policyimport

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/testutil"
)

// TestKyvernoBounds converts an input at the bounds — 500 verifyImages
// entries, each with its own pattern and key, about 500 rules compared
// pairwise — and measures the heap it takes; one more pattern than the
// rules allowed refuses the input.
func TestKyvernoBounds(t *testing.T) {
	key := testutil.NewKey(t).PEM
	pattern := func(i int) string { return fmt.Sprintf("ghcr.io/team-%d/*", i) }
	entry := func(i int) string {
		return fmt.Sprintf("    - imageReferences: [\"%s\"]\n      attestors:\n      - entries:\n        - keys:\n            publicKeys: |-\n              %s\n", pattern(i), testutil.Indent(key, 14))
	}
	policyOf := func(n int) []byte {
		var b strings.Builder
		b.WriteString("apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: many}\nspec:\n  validationFailureAction: Enforce\n  rules:\n  - name: r\n    verifyImages:\n")
		for i := range n {
			b.WriteString(entry(i))
		}
		return []byte(b.String())
	}
	in := policyOf(500)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	res, err := Import("kyverno", []Input{{Name: "many.yaml", Data: in}})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d KiB of input → %d KiB of policy, %d MiB allocated", len(in)>>10, len(res.Policy)>>10, allocated>>20)
	if allocated > 1<<30 {
		t.Errorf("converting %d entries allocated %d MiB", 500, allocated>>20)
	}
	if _, err := Import("kyverno", []Input{{Name: "many.yaml", Data: policyOf(maxOutputRules + 1)}}); err == nil || !strings.Contains(err.Error(), "more than 512") {
		t.Errorf("%d patterns: %v, want the input refused", maxOutputRules+1, err)
	}
}

// TestKyvernoIntricatePatterns: patterns made to be costly to compare
// (every pair shares its prefix, each a long run of wildcards) are
// compared within the conversion's step budget, or the input is refused
// with a clear error — never an unbounded computation.
func TestKyvernoIntricatePatterns(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: kyverno.io/v1\nkind: ClusterPolicy\nmetadata: {name: many}\nspec:\n  validationFailureAction: Enforce\n  rules:\n  - name: r\n    verifyImages:\n")
	for i := range 300 {
		fmt.Fprintf(&b, "    - imageReferences: [\"ghcr.io/%s%d/*\"]\n      attestors: [{entries: [{keys: {kms: \"awskms:///alias/k%d\"}}]}]\n", strings.Repeat("a*", 100), i, i)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Import("kyverno", []Input{{Name: "intricate.yaml", Data: []byte(b.String())}})
	runtime.ReadMemStats(&after)
	t.Logf("error %v, %d MiB allocated", err, (after.TotalAlloc-before.TotalAlloc)>>20)
	if err != nil && !errors.Is(err, errTooComplex) {
		t.Fatal(err)
	}
	if a := after.TotalAlloc - before.TotalAlloc; a > 512<<20 {
		t.Errorf("%d MiB allocated", a>>20)
	}
}

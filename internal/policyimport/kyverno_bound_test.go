package policyimport

import (
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
	entry := func(i int) string {
		return fmt.Sprintf("    - imageReferences: [\"ghcr.io/team-%d/*\"]\n      attestors:\n      - entries:\n        - keys:\n            publicKeys: |-\n              %s\n", i, testutil.Indent(key, 14))
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

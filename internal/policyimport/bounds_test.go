package policyimport

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
)

// allocated runs f and returns the bytes it allocated and the largest
// live heap seen after it.
func allocated(f func()) (total, live uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, after.HeapAlloc
}

// TestImportBounds: the largest inputs the bounds allow convert within a
// bounded memory, and a list past maxItems is cut with a note.
func TestImportBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString("application:\n  validators:\n  - {name: allow, type: static, approve: true}\n  policy:\n")
	for i := range maxItems + 5 {
		// 64 alternatives each: maxRules rules in all.
		fmt.Fprintf(&b, "  - {pattern: 'r%d.io/{a,b,c,d}{e,f,g,h}{i,j,k,l}:*', validator: allow}\n", i)
	}
	connaisseurIn := b.String()
	res, err := Import("connaisseur", []Input{{Name: "in.yaml", Data: []byte(connaisseurIn)}})
	if err != nil || !strings.Contains(fmt.Sprint(res.Notes), fmt.Sprintf("more than %d rules", maxRules)) {
		t.Fatalf("no note on the rules not converted: %v", err)
	}
	b.Reset()
	for i := range 1000 {
		fmt.Fprintf(&b, "---\napiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: p%d}\nspec: {images: [{glob: 'r%d.io/**'}, {glob: '**'}], authorities: [{static: {action: pass}}]}\n", i, i)
	}
	pcIn := b.String()
	for _, tc := range []struct {
		tool, in string
		budget   uint64
	}{
		{"connaisseur", connaisseurIn, 512 << 20},
		{"policy-controller", pcIn, 512 << 20},
	} {
		var res *Result
		var err error
		total, live := allocated(func() { res, err = Import(tc.tool, []Input{{Name: "in.yaml", Data: []byte(tc.in)}}) })
		if err != nil {
			t.Fatalf("%s: %v", tc.tool, err)
		}
		t.Logf("%s: %d KiB input, %d KiB policy, %d notes: %d MiB allocated, %d MiB live", tc.tool, len(tc.in)>>10, len(res.Policy)>>10, len(res.Notes), total>>20, live>>20)
		if total > tc.budget {
			t.Errorf("%s: %d MiB allocated, budget %d MiB", tc.tool, total>>20, tc.budget>>20)
		}
		if r := policy.Lint(res.Policy); !r.Valid() {
			t.Errorf("%s: the policy does not lint: %v", tc.tool, r.Errors[0])
		}
	}
}

package policy_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/testutil"
)

// conditionsPolicy is a policy of rules rules whose attestation
// requirement has per conditions each.
func conditionsPolicy(keyPEM string, rules, per int) string {
	var b strings.Builder
	b.WriteString("apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\nvalidators:\n- name: acme\n  type: cosign\n  trustRoots:\n  - name: release\n    key: |\n      " + testutil.Indent(keyPEM, 6) + "\nrules:\n")
	for i := range rules {
		fmt.Fprintf(&b, "- pattern: ghcr.io/acme/%d\n  validator: acme\n  with:\n    attestations:\n    - name: prov\n      type: slsaprovenance1\n      conditions:\n", i)
		for j := range per {
			fmt.Fprintf(&b, "      - expression: 'predicate.buildDefinition.buildType == \"b%d\"'\n", j)
		}
	}
	return b.String()
}

// TestMaxConditions: a policy with more than MaxConditions CEL conditions,
// however they are spread over rules, is refused before any is compiled;
// one at the bound compiles, and holds a bounded heap.
//
// Not parallel: the allocation measured is this test's alone.
func TestMaxConditions(t *testing.T) {
	key := testutil.NewKey(t).PEM
	for _, shape := range [][2]int{{1, policy.MaxConditions + 1}, {policy.MaxConditions + 1, 1}, {17, 16}} {
		doc, err := policy.Parse([]byte(conditionsPolicy(key, shape[0], shape[1])))
		if err != nil {
			t.Fatal(err)
		}
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		_, err = policy.Compile(doc, nil)
		runtime.ReadMemStats(&m1)
		if want := fmt.Sprintf("rules: %d CEL conditions under with.attestations; at most %d in one policy", shape[0]*shape[1], policy.MaxConditions); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%d rules × %d conditions: %v, want %q", shape[0], shape[1], err, want)
		}
		// Nothing compiled: a few MiB of parsing at most (measured by
		// what was allocated, not by time).
		if alloc := (m1.TotalAlloc - m0.TotalAlloc) >> 20; alloc > 16 {
			t.Errorf("%d rules × %d conditions: refusing allocated %d MiB", shape[0], shape[1], alloc)
		}
	}

	doc, err := policy.Parse([]byte(conditionsPolicy(key, 16, policy.MaxConditions/16)))
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	eng, err := policy.Compile(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
	t.Logf("%d conditions: %.1f MiB of heap held, %.1f MiB allocated", policy.MaxConditions, held, float64(after.TotalAlloc-before.TotalAlloc)/(1<<20))
	if held > 16 {
		t.Errorf("%d conditions hold %.1f MiB of heap, want under 16", policy.MaxConditions, held)
	}
	runtime.KeepAlive(eng)
}

package attest

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// bigCycloneDX is an in-toto statement whose CycloneDX predicate has
// components until the payload is at least size bytes, the last one named
// "log4j-core".
func bigCycloneDX(size int) []byte {
	var b strings.Builder
	b.Grow(size + 4096)
	b.WriteString(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://cyclonedx.org/bom","subject":[{"name":"ghcr.io/acme/app","digest":{"sha256":"4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"}}],`)
	b.WriteString(`"predicate":{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"metadata":{"timestamp":"2026-11-30T10:05:30Z","component":{"type":"container","name":"ghcr.io/acme/app"}},"components":[`)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"bom-ref":"pkg:golang/example.com/module%d@v1.%d.0","type":"library","name":"example.com/module%d","version":"v1.%d.0","licenses":[{"license":{"id":"Apache-2.0"}}],"purl":"pkg:golang/example.com/module%d@v1.%d.0","hashes":[{"alg":"SHA-256","content":"0f0e0d0c0b0a09080706050403020100f0e0d0c0b0a090807060504030201000"}],"properties":[{"name":"syft:package:foundBy","value":"go-module-binary-cataloger"},{"name":"syft:location:0:path","value":"/usr/local/bin/app"}]}`, i, i%100, i, i%100, i, i%100)
	}
	b.WriteString(`,{"type":"library","name":"log4j-core","version":"2.14.1"}]}}`)
	return []byte(b.String())
}

// heapGrowth runs f and returns the bytes it allocated and the live heap it
// left (after a GC, while keep is still reachable).
func heapGrowth(f func() any) (allocated, retained uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := f()
	runtime.ReadMemStats(&after)
	allocated = after.TotalAlloc - before.TotalAlloc
	runtime.GC()
	runtime.ReadMemStats(&after)
	retained = after.HeapAlloc - before.HeapAlloc
	runtime.KeepAlive(keep)
	return allocated, retained
}

// TestMemory50MiB: ParseStatement and an Eval that walks every component of
// a 50 MiB CycloneDX SBOM stay within a fraction of the payload's size
// (figures in doc.go). A full map[string]any decode of the same payload is
// measured for comparison.
func TestMemory50MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 50 MiB statement")
	}
	payload := bigCycloneDX(50 << 20)
	c := mustCompile(t,
		Condition{Expression: `!predicate.components.exists(c, c.name == "log4j-core")`, Message: "no log4j"},
	)
	none := mustCompile(t)

	parsedOnly, _ := heapGrowth(func() any {
		st, err := ParseStatement(payload)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _, reason := none.Eval(context.Background(), st, testImage, testSigner, testNow); !ok {
			t.Fatal(reason)
		}
		return st
	})
	var parseTime, evalTime time.Duration
	allocated, retained := heapGrowth(func() any {
		start := time.Now()
		st, err := ParseStatement(payload)
		if err != nil {
			t.Fatal(err)
		}
		parseTime = time.Since(start)
		start = time.Now()
		ok, _, reason := c.Eval(context.Background(), st, testImage, testSigner, testNow)
		evalTime = time.Since(start)
		if ok || reason != "no log4j" {
			t.Fatalf("Eval = %v, %q; want no log4j", ok, reason)
		}
		return st
	})
	full, _ := heapGrowth(func() any {
		var v any
		if err := json.Unmarshal(payload, &v); err != nil {
			t.Fatal(err)
		}
		return v
	})
	const MiB = 1 << 20
	t.Logf("ParseStatement %v, Eval (indexing included) %v", parseTime, evalTime)
	t.Logf("payload %.1f MiB: ParseStatement without conditions allocates %.2f MiB; ParseStatement+Eval over every component allocates %.1f MiB and retains %.1f MiB (the index); encoding/json into map[string]any allocates %.1f MiB",
		float64(len(payload))/MiB, float64(parsedOnly)/MiB, float64(allocated)/MiB, float64(retained)/MiB, float64(full)/MiB)
	if parsedOnly > 1*MiB {
		t.Errorf("ParseStatement without conditions allocated %d bytes, want under 1 MiB: the predicate must not be decoded", parsedOnly)
	}
	if limit := uint64(len(payload)) * 5 / 4; allocated > limit {
		t.Errorf("ParseStatement+Eval allocated %d bytes, more than %d (1.25 times the payload)", allocated, limit)
	}
	if limit := uint64(len(payload)) * 3 / 4; retained > limit {
		t.Errorf("the index retains %d bytes, more than %d (0.75 times the payload)", retained, limit)
	}
}

package policy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/testutil"
)

// BenchmarkMatch measures rule selection among 200 rules.
func BenchmarkMatch(b *testing.B) {
	var rules strings.Builder
	for i := range 100 {
		fmt.Fprintf(&rules, "- {pattern: \"ghcr.io/team%d/*\", validator: allow}\n", i)
		fmt.Fprintf(&rules, "- {pattern: \"registry.example.com/org%d/**\", validator: deny}\n", i)
	}
	eng := engine(b, testutil.NewKey(b), rules.String())
	ref, _ := imageref.Parse("registry.example.com/org99/deep/path/app:v1.2.3")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, ok := eng.Match(ref); !ok {
			b.Fatal("no match")
		}
	}
}

// BenchmarkEvaluateStatic is the floor: parse, match, decide.
func BenchmarkEvaluateStatic(b *testing.B) {
	eng := engine(b, testutil.NewKey(b), `- {pattern: "**", validator: allow}`)
	b.ReportAllocs()
	for b.Loop() {
		if d := eng.Evaluate(context.Background(), "ghcr.io/acme/app:v1"); !d.Allowed {
			b.Fatal(d.Reason)
		}
	}
}

// BenchmarkEvaluateCosign is a full, uncached verification of a legacy
// signature against an in-process registry on loopback: resolve, fetch the
// signature manifest and payload, verify. Reports registry requests per
// verification.
func BenchmarkEvaluateCosign(b *testing.B) {
	for _, roots := range []int{1, 10} {
		b.Run(fmt.Sprintf("roots=%d", roots), func(b *testing.B) {
			reg := testutil.NewRegistry(b, false)
			signer := testutil.NewKey(b)
			img := reg.PushImage(b, "demo/app:v1")
			testutil.SignLegacy(b, img, signer)
			var trs strings.Builder
			for i := range roots - 1 {
				fmt.Fprintf(&trs, "  - name: other%d\n    key: |\n        %s\n", i, indent(testutil.NewKey(b).PEM))
			}
			fmt.Fprintf(&trs, "  - name: ci\n    key: |\n        %s\n", indent(signer.PEM))
			doc := `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
insecureRegistries: [` + reg.Host + `]
validators:
- name: signed
  type: cosign
  trustRoots:
` + trs.String() + `rules:
- {pattern: "` + reg.Host + `/**", validator: signed, with: {trustRoot: "*"}}
`
			eng := compileYAML(b, doc)
			ref := reg.Host + "/demo/app:v1"
			reg.Reset()
			b.ReportAllocs()
			for b.Loop() {
				if d := eng.Evaluate(context.Background(), ref); !d.Allowed {
					b.Fatal(d.Reason)
				}
			}
			b.ReportMetric(float64(reg.Requests())/float64(b.N), "requests/op")
		})
	}
}

package policyimport

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
)

// FuzzImportKyverno: any input converts or fails with an error, never a
// panic; every converted policy lints; and a pattern whose translation
// carries no note matches, in signet's engine, exactly the images Kyverno's
// wildcard match does.
func FuzzImportKyverno(f *testing.F) {
	const key = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM\n5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==\n-----END PUBLIC KEY-----"
	seed := kyPolicyYAML("Enforce", "imageReferences: [\"ghcr.io/acme/*\"]\nskipImageReferences: [\"ghcr.io/acme/tools/*\"]\nattestors:\n- count: 1\n  entries:\n  - "+keyEntry(key)+"\n  - keyless: {issuer: https://token.actions.githubusercontent.com, subject: a@b.c}\nattestations:\n- predicateType: https://slsa.dev/provenance/v1\n  conditions:\n  - all:\n    - {key: '{{ builder.id }}', operator: Equals, value: x}")
	small := kyPolicyYAML("Enforce", "imageReferences: [\"ghcr.io/acme/*\"]\nskipImageReferences: [\"ghcr.io/acme/tools/*\"]\nattestors:\n- entries:\n  - keys: {kms: \"awskms:///alias/x\"}")
	f.Add([]byte(seed), "ghcr.io/acme/*")
	f.Add([]byte{}, "ghcr.io/*/app:v*")
	f.Add([]byte{}, "ghcr.io/*,!ghcr.io/acme/tools/*,ghcr.io/acme/*,*:v1")
	f.Add([]byte("apiVersion: v1\nkind: List\nitems:\n- "+strings.ReplaceAll(strings.TrimSpace(seed), "\n", "\n  ")), "*nginx*")
	f.Add([]byte("{}"), "localhost:5000*?@sha256:*")
	f.Add([]byte("a: [\n"), "docker.io/library/nginx:1.2?")
	f.Add([]byte("apiVersion: kyverno.io/v1\nkind: Policy\nspec: {rules: [{verifyImages: [{attestors: [{count: -1, entries: [{attestor: {entries: [{}]}}]}]}]}]}"), "*:*")
	images := []string{"nginx:1.25", "ghcr.io/acme/app:v1", "ghcr.io/acme/app/sub@" + dig, "localhost:5000/library/nginx:v1", "docker.io/acme/nginx-app:1.2"}
	f.Fuzz(func(t *testing.T, data []byte, pattern string) {
		check := func(in []byte) {
			res, err := Import("kyverno", []Input{{Name: "f.yaml", Data: in}})
			if err != nil {
				return
			}
			if r := policy.Lint(res.Policy); !r.Valid() {
				t.Fatalf("converted policy does not lint: %v\n%s", r.Errors, res.Policy)
			}
		}
		check(data)
		if len(data) == 0 {
			// The pattern in a policy, through the whole conversion.
			q, _ := json.Marshal(pattern)
			check([]byte(strings.Replace(small, `"ghcr.io/acme/*"`, string(q), 1)))
		}
		if strings.Contains(pattern, ",") {
			// Several entries, one pattern each ("!" before a pattern makes
			// it the previous entry's skip): which entries each image's
			// rule carries.
			var refs, skips [][]string
			for _, p := range strings.Split(pattern, ",")[:min(4, strings.Count(pattern, ",")+1)] {
				if s, ok := strings.CutPrefix(p, "!"); ok && len(refs) > 0 {
					skips[len(skips)-1] = append(skips[len(skips)-1], s)
					continue
				}
				refs, skips = append(refs, []string{p}), append(skips, nil)
			}
			entriesAgree(t, refs, skips)
			return
		}
		tr := kyvernoPatterns(pattern)
		if len(tr.notes) > 0 || strings.ContainsAny(pattern, "\x00") {
			return
		}
		match := signetMatcher(t, tr.patterns)
		for _, img := range images {
			if k, s := kyvernoMatch(pattern, kyvernoPrint(img)), match(img); k != s {
				t.Fatalf("%q → %q: Kyverno matches %s: %v, signet %v", pattern, tr.patterns, img, k, s)
			}
		}
	})
}

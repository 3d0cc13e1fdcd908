package policy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/cosign/v2/pkg/cosign/attestation"

	"github.com/signet-dev/signet/internal/attest"
	"github.com/signet-dev/signet/internal/policy"
)

var (
	yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")
	jsonBlock = regexp.MustCompile("(?s)```json\n(.*?)```")
	attestCmd = regexp.MustCompile(`(?m)^cosign attest .*--type (\S+) `)
)

// TestDocAttestationExamples: the examples of docs/policy.md's Attestations
// section hold. Its first YAML example is a whole policy and compiles; every
// other is a rules list that compiles with that policy's validators. In
// each worked example, the predicate shown, made into a statement by
// cosign's own statement generator with the --type of the example's cosign
// attest command, has the requirement's predicate type and meets every
// condition of the rule shown.
func TestDocAttestationExamples(t *testing.T) {
	t.Parallel()
	sec := docSection(t, "## Attestations")
	blocks := yamlBlock.FindAllStringSubmatch(sec, -1)
	if len(blocks) < 8 {
		t.Fatalf("%d YAML examples in the Attestations section, want the policy and 7 worked examples", len(blocks))
	}
	whole := blocks[0][1]
	compileYAML(t, whole)
	validators, _, ok := strings.Cut(whole, "rules:\n")
	if !ok {
		t.Fatal("the first example has no rules")
	}
	for _, b := range blocks[1:] {
		compileYAML(t, validators+b[1])
	}

	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC) // within a week of the examples' scan
	examples := strings.Split(sec, "\n#### ")[1:]
	if len(examples) != 7 {
		t.Fatalf("%d worked examples, want 7 (SLSA v0.2 and v1, CycloneDX, SPDX, vuln, OpenVEX, custom)", len(examples))
	}
	for _, ex := range examples {
		title, _, _ := strings.Cut(ex, "\n")
		t.Run(title, func(t *testing.T) {
			t.Parallel()
			pred, cmd, rule := jsonBlock.FindStringSubmatch(ex), attestCmd.FindStringSubmatch(ex), yamlBlock.FindStringSubmatch(ex)
			if pred == nil || cmd == nil || rule == nil {
				t.Fatalf("want a predicate (json), a cosign attest command and a rule (yaml); have %v, %v, %v", pred != nil, cmd != nil, rule != nil)
			}
			doc, err := policy.Parse([]byte(validators + rule[1]))
			if err != nil {
				t.Fatal(err)
			}
			req := doc.Rules[0].With.Attestations[0]
			const digest = "4f5e2a0c9b1d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f"
			gen, err := attestation.GenerateStatement(attestation.GenerateOpts{
				Predicate: bytes.NewReader([]byte(pred[1])), Type: cmd[1],
				Digest: digest, Repo: "ghcr.io/acme/app", Time: func() time.Time { return now.Add(-time.Hour) },
			})
			if err != nil {
				t.Fatalf("cosign attest --type %s: %v", cmd[1], err)
			}
			raw, err := json.Marshal(gen)
			if err != nil {
				t.Fatal(err)
			}
			st, err := attest.ParseStatement(raw)
			if err != nil {
				t.Fatal(err)
			}
			if want, err := attest.PredicateType(req.Type); err != nil || st.PredicateType != want {
				t.Errorf("cosign --type %s writes predicate type %s; the requirement's type %s is %s (%v)", cmd[1], st.PredicateType, req.Type, want, err)
			}
			if !st.Names("sha256:" + digest) {
				t.Errorf("statement names no subject sha256:%s", digest)
			}
			conds := make([]attest.Condition, len(req.Conditions))
			for i, c := range req.Conditions {
				conds[i] = attest.Condition{Expression: c.Expression, Message: c.Message}
			}
			cs, errs := attest.Compile(conds)
			if errs != nil {
				t.Fatal(errs)
			}
			img := attest.Image{Reference: "ghcr.io/acme/app:v1.4.0@sha256:" + digest, Registry: "ghcr.io", Repository: "acme/app", Tag: "v1.4.0", Digest: "sha256:" + digest}
			if ok, i, why := cs.Eval(context.Background(), st, img, attest.Signer{TrustRoot: "release"}, now); !ok {
				t.Errorf("condition %d fails: %s", i, why)
			}
		})
	}
}

package attest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testDigest = "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"

var (
	testImage = Image{
		Reference:  "ghcr.io/acme/app:v1",
		Registry:   "ghcr.io",
		Repository: "acme/app",
		Tag:        "v1",
		Digest:     testDigest,
	}
	testSigner = Signer{TrustRoot: "acme-ci", Issuer: "https://token.actions.githubusercontent.com", Subject: "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main"}
	testNow    = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
)

func readStatement(t *testing.T, name string) *Statement {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseStatement(b)
	if err != nil {
		t.Fatalf("ParseStatement(%s): %v", name, err)
	}
	return st
}

func mustCompile(t *testing.T, conds ...Condition) *Conditions {
	t.Helper()
	c, errs := Compile(conds)
	if errs != nil {
		t.Fatalf("Compile: %v", errs)
	}
	return c
}

// TestEval: conditions that hold and that fail, on real predicate shapes.
func TestEval(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file string
		conds      []Condition
		failed     int    // -1: all hold
		reason     string // substring of the reason
	}{
		{"slsa v0.2 builder", "slsa02.json", []Condition{
			{Expression: `predicate.builder.id.startsWith("https://github.com/slsa-framework/slsa-github-generator/")`},
			{Expression: `predicate.invocation.configSource.uri == "git+https://github.com/acme/app@refs/heads/main"`},
			{Expression: `statement.predicateType == "https://slsa.dev/provenance/v0.2" && statement._type == "https://in-toto.io/Statement/v0.1"`},
		}, -1, ""},
		{"slsa v0.2 wrong repository", "slsa02.json", []Condition{
			{Expression: `predicate.builder.id != ""`},
			{Expression: `predicate.invocation.configSource.uri.contains("acme/other")`, Message: "built from acme/other"},
		}, 1, "built from acme/other"},
		{"slsa v1 builder", "slsa1.json", []Condition{
			{Expression: `predicate.runDetails.builder.id == "https://ci.acme.example/builder"`, Message: "built by the acme CI builder"},
			{Expression: `predicate.buildDefinition.externalParameters.workflow.repository.startsWith("https://github.com/acme/")`},
			{Expression: `predicate.buildDefinition.resolvedDependencies.exists(d, d.digest.gitCommit.matches("^[0-9a-f]{40}$"))`},
		}, -1, ""},
		{"slsa v1 another builder", "slsa1.json", []Condition{
			{Expression: `predicate.runDetails.builder.id == "https://ci.evil.example/builder"`, Message: "built by the acme CI builder"},
		}, 0, "built by the acme CI builder"},
		{"slsa v1 no message names the expression", "slsa1.json", []Condition{
			{Expression: `predicate.runDetails.builder.id == "x"`},
		}, 0, `predicate.runDetails.builder.id == "x"`},
		{"cyclonedx", "cyclonedx.json", []Condition{
			{Expression: `predicate.bomFormat == "CycloneDX" && predicate.specVersion == "1.5"`},
			{Expression: `!predicate.components.exists(c, c.name == "log4j-core")`, Message: "no log4j"},
			{Expression: `predicate.components.all(c, has(c.licenses) && c.licenses.size() > 0)`},
			{Expression: `predicate.metadata.tools.components.exists(t, t.name == "syft")`},
			{Expression: `size(predicate.components) == 3 && predicate.components[2].name == "libc6"`},
			{Expression: `predicate.version == 1 && predicate.version + 1 == 2 && predicate.version < 1.5`},
		}, -1, ""},
		{"cyclonedx forbidden component", "cyclonedx.json", []Condition{
			{Expression: `!predicate.components.exists(c, c.name == "libc6")`, Message: "no libc6"},
		}, 0, "no libc6"},
		{"spdx", "spdx.json", []Condition{
			{Expression: `predicate.spdxVersion == "SPDX-2.3"`},
			{Expression: `predicate.packages.all(p, p.licenseDeclared in ["Apache-2.0", "MIT", "BSD-3-Clause", "LGPL-2.1"])`},
			{Expression: `predicate.creationInfo.creators.exists(c, c.startsWith("Tool: syft"))`},
		}, -1, ""},
		{"spdx gpl", "spdx.json", []Condition{
			{Expression: `predicate.packages.all(p, !p.licenseDeclared.contains("GPL"))`, Message: "no GPL"},
		}, 0, "no GPL"},
		{"vuln no criticals, recent", "vuln.json", []Condition{
			{Expression: `predicate.scanner.result.summary.critical == 0`},
			{Expression: `timestamp(predicate.metadata.scanFinishedOn) > now - duration("168h")`, Message: "scanned in the last 7 days"},
			{Expression: `predicate.scanner.result.summary.high <= 2`},
			{Expression: `predicate.scanner.result.Results.all(r, r.Vulnerabilities.all(v, v.CVSS.nvd.V3Score < 9.0))`},
		}, -1, ""},
		{"vuln highs", "vuln.json", []Condition{
			{Expression: `predicate.scanner.result.summary.critical == 0`},
			{Expression: `predicate.scanner.result.summary.high == 0`, Message: "no highs"},
		}, 1, "no highs"},
		{"openvex", "openvex.json", []Condition{
			{Expression: `predicate.statements.exists(s, s.vulnerability.name == "CVE-2026-1234" && s.status == "not_affected")`},
			{Expression: `predicate.statements.all(s, s.products.exists(p, p["@id"].endsWith(image.digest.replace(":", "%3A"))))`},
		}, -1, ""},
		{"image and signer", "slsa1.json", []Condition{
			{Expression: `image.registry == "ghcr.io" && image.repository == "acme/app" && image.tag == "v1" && image.reference.startsWith("ghcr.io/")`},
			{Expression: `signer.trustRoot == "acme-ci" && signer.issuer == "https://token.actions.githubusercontent.com" && signer.subject.contains("/acme/app/")`},
			{Expression: `statement.subject.exists(s, "sha256:" + s.digest.sha256 == image.digest)`},
			{Expression: `statement.predicate.runDetails.builder.id == predicate.runDetails.builder.id`},
		}, -1, ""},
		{"regex and lists libraries", "cyclonedx.json", []Condition{
			{Expression: `predicate.components.map(c, c.version).exists(v, regex.extract(v, "[0-9]+") == optional.of("1"))`},
			{Expression: `predicate.components.map(c, c.name).sort()[0] == "github.com/spf13/cobra"`},
			{Expression: `predicate.components.map(c, c.name).distinct().size() == 3 && sets.contains(["a", "b"], ["a"])`},
			{Expression: `predicate.metadata.component.name.split("/")[0] == image.registry && "ACME".lowerAscii() == "acme"`},
		}, -1, ""},
		{"missing field", "vuln.json", []Condition{
			{Expression: `predicate.scanner.result.summary.critical == 0`},
			{Expression: `predicate.scanner.result.summary.negligible == 0`, Message: "no negligibles"},
		}, 1, "no negligibles: no such key: negligible"},
		{"missing field with has", "vuln.json", []Condition{
			{Expression: `!has(predicate.scanner.result.summary.negligible) || predicate.scanner.result.summary.negligible == 0`},
		}, -1, ""},
		{"missing predicate field of slsa v0.2 read as v1", "slsa02.json", []Condition{
			{Expression: `predicate.runDetails.builder.id == "https://ci.acme.example/builder"`},
		}, 0, "no such key: runDetails"},
		{"wrong type at run time", "vuln.json", []Condition{
			{Expression: `predicate.scanner.version > 1`, Message: "new scanner"},
		}, 0, "new scanner: no such overload"},
		{"wrong type: timestamp of a number", "vuln.json", []Condition{
			{Expression: `timestamp(predicate.scanner.result.summary.high) > now`},
		}, 0, "timestamp"},
		{"not a bool at run time", "vuln.json", []Condition{
			{Expression: `predicate.scanner.version`},
		}, 0, "evaluated to string, not a bool"},
		{"old scan", "vuln.json", []Condition{
			{Expression: `timestamp(predicate.metadata.scanFinishedOn) > now - duration("24h")`, Message: "scanned today"},
		}, 0, "scanned today"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := readStatement(t, tc.file)
			c := mustCompile(t, tc.conds...)
			ok, failed, reason := c.Eval(context.Background(), st, testImage, testSigner, testNow)
			if ok != (tc.failed == -1) || failed != tc.failed || !strings.Contains(reason, tc.reason) {
				t.Fatalf("Eval = %v, %d, %q; want failed %d with %q", ok, failed, reason, tc.failed, tc.reason)
			}
		})
	}
}

// TestCompileErrors: every problem is reported at once, against its index.
func TestCompileErrors(t *testing.T) {
	t.Parallel()
	conds := []Condition{
		{Expression: `predicate.a == 1`},
		{Expression: `predicate.a ==`},
		{Expression: `predicat.a == 1`},
		{Expression: `predicate.a + 1`},
		{Expression: `predicate.a`}, // dyn: checked at run time
		{Expression: `image.tag`},
		{Expression: ``},
		{Expression: `predicate.a.all(x, predicate.b.all(y, predicate.c.all(z, x == y && y == z)))`},
		{Expression: `nosuchfunction(predicate)`},
		{Expression: `duration("7 days") < duration("1h")`},
		{Expression: `"a".matches("[")`},
		{Expression: `true`},
	}
	want := []string{
		"",
		"Syntax error",
		"undeclared reference to 'predicat'",
		"must evaluate to a bool, not int",
		"",
		"must evaluate to a bool, not string",
		"empty expression",
		"estimated cost",
		"undeclared reference to 'nosuchfunction'",
		"duration",
		"invalid matches argument",
		"",
	}
	c, errs := Compile(conds)
	if c != nil {
		t.Errorf("Compile returned a set despite errors")
	}
	if ok, _, reason := c.Eval(context.Background(), readStatement(t, "slsa1.json"), testImage, testSigner, testNow); ok {
		t.Errorf("the nil set of a failed Compile holds")
	} else if reason != "the conditions did not compile" {
		t.Errorf("reason %q", reason)
	}
	if len(errs) != len(conds) {
		t.Fatalf("len(errs) = %d, want %d", len(errs), len(conds))
	}
	for i, w := range want {
		switch {
		case w == "" && errs[i] != nil:
			t.Errorf("conds[%d] %q: unexpected error %v", i, conds[i].Expression, errs[i])
		case w != "" && (errs[i] == nil || !strings.Contains(errs[i].Error(), w)):
			t.Errorf("conds[%d] %q: error %v, want one containing %q", i, conds[i].Expression, errs[i], w)
		}
	}
}

// TestCostAtRunTime: an expression that is cheap on a statement of
// EstimatedSize but too costly on the real one passes Compile and fails at
// run time, within the cost limit.
func TestCostAtRunTime(t *testing.T) {
	t.Parallel()
	st := zeros(t, 4_000_000)
	c := mustCompile(t, Condition{Expression: `predicate.l.all(x, x == 0)`, Message: "all zero"})
	start := time.Now()
	ok, failed, reason := c.Eval(context.Background(), st, testImage, testSigner, testNow)
	t.Logf("stopped after %v", time.Since(start))
	if ok || failed != 0 || !strings.Contains(reason, "all zero: ") || !strings.Contains(reason, "cost limit") {
		t.Fatalf("Eval = %v, %d, %q; want the cost limit", ok, failed, reason)
	}
}

// zeros is a statement whose predicate is {members "l": [0, 0, …]} with n
// zeros; members is empty or ends with a comma.
func zeros(t *testing.T, n int, members ...string) *Statement {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://example.com/p","subject":[{"digest":{"sha256":"00"}}],"predicate":{`)
	for _, m := range members {
		b.WriteString(m)
	}
	b.WriteString(`"l":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('0')
	}
	b.WriteString(`]}}`)
	st, err := ParseStatement([]byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestContextStops: a deadline passed before Eval, or that passes during
// a long loop or while the predicate is indexed, stops evaluation with a
// reason; an index whose build was stopped is not kept.
func TestContextStops(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		st      *Statement
		expr    string
		timeout time.Duration // 0: passed before Eval
		reason  string
	}{
		{"passed before", readStatement(t, "cyclonedx.json"), `predicate.components.size() > 0`, 0, "not evaluated: context deadline exceeded"},
		// cheap enough to pass Compile, long enough (4,000,000 iterations) to outlast the deadline
		{"deadline in a loop", zeros(t, 2_000), `predicate.l.all(x, predicate.l.all(y, x == y))`, 20 * time.Millisecond, "evaluation stopped: context deadline exceeded"},
		{"deadline while indexing", zeros(t, 4_000_000), `predicate.l.size() > 0`, time.Millisecond, "context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCompile(t, Condition{Expression: tc.expr})
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			ok, failed, reason := c.Eval(ctx, tc.st, testImage, testSigner, testNow)
			if ok || failed != 0 || !strings.Contains(reason, tc.reason) {
				t.Fatalf("Eval = %v, %d, %q; want %q", ok, failed, reason, tc.reason)
			}
			if ok, _, reason := c.Eval(context.Background(), tc.st, testImage, testSigner, testNow); tc.name != "deadline in a loop" && !ok {
				t.Fatalf("Eval after a stopped one: %s", reason)
			}
		})
	}
}

// TestNoConditionsNoDecode: a requirement without conditions, or whose
// conditions do not read the predicate, never indexes it.
func TestNoConditionsNoDecode(t *testing.T) {
	t.Parallel()
	for _, conds := range [][]Condition{nil, {{Expression: `image.tag == "v1"`}, {Expression: `signer.trustRoot == "acme-ci"`}}} {
		st := readStatement(t, "cyclonedx.json")
		c := mustCompile(t, conds...)
		if ok, _, reason := c.Eval(context.Background(), st, testImage, testSigner, testNow); !ok {
			t.Fatalf("Eval: %s", reason)
		}
		if st.tape != nil {
			t.Errorf("%v: the predicate was indexed", conds)
		}
	}
}

// TestStepLimit: reading a huge object again and again is stopped by
// MaxPredicateSteps, which CEL's cost (one unit per member access) does not
// see, and fails the condition even where CEL would have absorbed the error.
func TestStepLimit(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString(`"big":{`)
	for i := range 200_000 {
		b.WriteString(`"k`)
		b.WriteString(strconv.Itoa(i))
		b.WriteString(`":0,`)
	}
	b.WriteString(`"last":1},`)
	st := zeros(t, 1000, b.String())
	c := mustCompile(t, Condition{Expression: `predicate.l.all(x, predicate.big.last == 1 || true)`})
	ok, _, reason := c.Eval(context.Background(), st, testImage, testSigner, testNow)
	if ok || !strings.Contains(reason, "steps") {
		t.Fatalf("Eval = %v, %q; want the step limit", ok, reason)
	}
}

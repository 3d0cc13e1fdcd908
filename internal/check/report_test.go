package check_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/signet-dev/signet/internal/check"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// report is one of every kind of entry a report holds.
func report() *check.Report {
	return &check.Report{
		Results: []check.Result{
			{
				Finding:  check.Finding{File: "deploy/web.yaml", Line: 21, Column: 18, Kind: "Deployment", Name: "web", Namespace: "shop", Section: "containers", Container: "web", Path: "/spec/template/spec/containers/0/image", Image: "registry.example/shop/web:1.4"},
				Decision: policy.Decision{Image: "registry.example/shop/web:1.4", Allowed: true, Outcome: verify.Verified, Mode: policy.ModeEnforce, Rule: "registry.example/shop/*", Validator: "shop-key", Reason: "verified by shop-key", Digest: digest, Pinned: "registry.example/shop/web@" + digest},
			},
			{
				Finding:  check.Finding{File: "deploy/web.yaml", Line: 24, Column: 18, Kind: "Deployment", Name: "web", Namespace: "shop", Section: "initContainers", Container: "migrate", Path: "/spec/template/spec/initContainers/0/image", Image: "docker.io/library/busybox:1.36"},
				Decision: policy.Decision{Image: "docker.io/library/busybox:1.36", Allowed: false, Outcome: verify.Failed, Mode: policy.ModeEnforce, Reason: "no rule matches docker.io/library/busybox:1.36"},
			},
			{
				Finding:  check.Finding{File: "compose.yaml", Line: 3, Column: 12, Kind: "Service", Name: "cache", Path: "services.cache.image", Image: "redis:7 <&>"},
				Decision: policy.Decision{Image: "redis:7 <&>", Allowed: false, Outcome: verify.Inconclusive, Mode: policy.ModeEnforce, Rule: "*", Validator: "default", Reason: "resolving the tag: GET https://index.docker.io/v2/: context deadline exceeded."},
			},
			{
				Finding:  check.Finding{File: "compose.yaml", Line: 7, Column: 12, Kind: "Service", Name: "metrics", Section: "volumes", Container: "/plugins", Path: "services.metrics.volumes[0].source", Image: "registry.example/tools/metrics:2"},
				Decision: policy.Decision{Image: "registry.example/tools/metrics:2", Allowed: false, Outcome: verify.Failed, Mode: policy.ModeWarn, Rule: "registry.example/tools/*", Validator: "tools-key", Reason: "no signature verifies with tools-key"},
			},
			{
				Finding:  check.Finding{File: "-", Line: 5, Column: 16, Kind: "Pod", Name: "debug", Namespace: "default", Section: "containers", Container: "sh", Path: "/spec/containers/0/image", Image: "alpine:3.20"},
				Decision: policy.Decision{Image: "alpine:3.20", Allowed: false, Outcome: verify.Failed, Mode: policy.ModeAudit, Reason: "no rule matches docker.io/library/alpine:3.20"},
			},
		},
		Errors: []check.FileError{{File: "deploy/broken.yaml", Line: 4, Err: "yaml: line 4: did not find expected key"}},
	}
}

// TestWriteSARIF compares the SARIF log with a golden file and validates it
// against the OASIS SARIF 2.1.0 schema (testdata/sarif-schema-2.1.0.json,
// see testdata/README.md).
func TestWriteSARIF(t *testing.T) {
	var b bytes.Buffer
	if err := check.WriteSARIF(&b, report(), "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "report.sarif"), b.Bytes(), *update)

	c := jsonschema.NewCompiler()
	schema, err := c.Compile(filepath.Join("testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Fatalf("the SARIF log is not valid SARIF 2.1.0: %v", err)
	}
	// The schema does reject what is not SARIF 2.1.0.
	for _, bad := range []string{`"version": "2.1.0"`, `"startLine": 24`, `"level": "warning"`} {
		broken := strings.Replace(b.String(), bad, map[string]string{`"version": "2.1.0"`: `"version": "2.2"`, `"startLine": 24`: `"startLine": 0`, `"level": "warning"`: `"level": "warn"`}[bad], 1)
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(broken))
		if err != nil {
			t.Fatal(err)
		}
		if schema.Validate(doc) == nil {
			t.Errorf("the schema accepts the log with %s changed", bad)
		}
	}

	var log struct {
		Runs []struct {
			Results []struct {
				RuleID              string `json:"ruleId"`
				Level               string `json:"level"`
				Message             struct{ Text string }
				PartialFingerprints map[string]string `json:"partialFingerprints"`
				Locations           []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }
						Region           struct{ StartLine, StartColumn int }
					}
				}
			}
		}
	}
	if err := json.Unmarshal(b.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	type got struct{ rule, level, uri string }
	var gots []got
	for _, r := range log.Runs[0].Results {
		gots = append(gots, got{r.RuleID, r.Level, r.Locations[0].PhysicalLocation.ArtifactLocation.URI})
		if !strings.Contains(r.Message.Text, "signet explain") && r.RuleID != check.RuleInput {
			t.Errorf("message %q has no signet explain hint", r.Message.Text)
		}
	}
	want := []got{
		{check.RuleDenied, "error", "deploy/web.yaml"},
		{check.RuleInconclusive, "error", "compose.yaml"},
		{check.RuleDenied, "warning", "compose.yaml"},
		{check.RuleDenied, "note", "stdin"},
		{check.RuleInput, "error", "deploy/broken.yaml"},
	}
	if len(gots) != len(want) {
		t.Fatalf("results %v, want %v (allowed images are not results)", gots, want)
	}
	for i := range want {
		if gots[i] != want[i] {
			t.Errorf("result %d: %v, want %v", i, gots[i], want[i])
		}
	}
}

// TestSARIFFingerprints: the same finding keeps its fingerprint when lines
// move or the reason's wording changes, and a different image or file gets
// another.
func TestSARIFFingerprints(t *testing.T) {
	fp := func(mut func(*check.Result)) string {
		r := report()
		r.Errors = nil
		r.Results = r.Results[1:2]
		mut(&r.Results[0])
		var b bytes.Buffer
		if err := check.WriteSARIF(&b, r, "dev"); err != nil {
			t.Fatal(err)
		}
		var log struct {
			Runs []struct {
				Results []struct {
					PartialFingerprints map[string]string `json:"partialFingerprints"`
				}
			}
		}
		if err := json.Unmarshal(b.Bytes(), &log); err != nil {
			t.Fatal(err)
		}
		return log.Runs[0].Results[0].PartialFingerprints["signetFinding/v1"]
	}
	base := fp(func(*check.Result) {})
	if base == "" {
		t.Fatal("no fingerprint")
	}
	for name, tc := range map[string]struct {
		mut  func(*check.Result)
		same bool
	}{
		"line moved":       {func(r *check.Result) { r.Line, r.Column = 40, 3 }, true},
		"reason reworded":  {func(r *check.Result) { r.Decision.Reason = "something else" }, true},
		"other image":      {func(r *check.Result) { r.Image = "docker.io/library/busybox:1.37" }, false},
		"other file":       {func(r *check.Result) { r.File = "deploy/other.yaml" }, false},
		"other container":  {func(r *check.Result) { r.Container = "other" }, false},
		"now inconclusive": {func(r *check.Result) { r.Decision.Outcome = verify.Inconclusive }, false},
	} {
		if got := fp(tc.mut); (got == base) != tc.same {
			t.Errorf("%s: fingerprint %s, base %s; want same=%v", name, got, base, tc.same)
		}
	}
}

// TestWriteJUnit compares the JUnit XML with a golden file, and reads it
// back the way GitLab's JUnit parser does (testsuites › testsuite ›
// testcase with name and classname; the status from a failure, error or
// skipped child).
func TestWriteJUnit(t *testing.T) {
	var b bytes.Buffer
	if err := check.WriteJUnit(&b, report()); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "report.junit.xml"), b.Bytes(), *update)

	var doc struct {
		XMLName  xml.Name `xml:"testsuites"`
		Tests    int      `xml:"tests,attr"`
		Failures int      `xml:"failures,attr"`
		Errors   int      `xml:"errors,attr"`
		Suites   []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Errors   int    `xml:"errors,attr"`
			Cases    []struct {
				Name      string `xml:"name,attr"`
				Classname string `xml:"classname,attr"`
				File      string `xml:"file,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
				Error *struct {
					Message string `xml:"message,attr"`
				} `xml:"error"`
				Skipped *struct{} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Tests != 6 || doc.Failures != 1 || doc.Errors != 2 {
		t.Errorf("testsuites counts %d tests, %d failures, %d errors; want 6, 1, 2", doc.Tests, doc.Failures, doc.Errors)
	}
	status := map[string]string{}
	for _, s := range doc.Suites {
		failures, errs := 0, 0
		for _, c := range s.Cases {
			if c.Name == "" || c.Classname == "" || c.File != s.Name {
				t.Errorf("test case %+v: want a name, a classname and the suite's file", c)
			}
			st := "success"
			switch {
			case c.Failure != nil:
				st = "failed"
			case c.Error != nil:
				st = "error"
			case c.Skipped != nil:
				st = "skipped"
			}
			status[c.Name] = st
			if st == "failed" {
				failures++
			}
			if st == "error" {
				errs++
			}
		}
		if s.Tests != len(s.Cases) || s.Failures != failures || s.Errors != errs {
			t.Errorf("suite %s counts %d tests, %d failures, %d errors; has %d, %d, %d", s.Name, s.Tests, s.Failures, s.Errors, len(s.Cases), failures, errs)
		}
	}
	want := map[string]string{
		"Deployment shop/web, container web: registry.example/shop/web:1.4":      "success",
		"Deployment shop/web, container migrate: docker.io/library/busybox:1.36": "failed",
		"Service cache: redis:7 <&>":                                             "error",
		"Service metrics, volume /plugins: registry.example/tools/metrics:2":     "success",
		"Pod default/debug, container sh: alpine:3.20":                           "success",
		"read deploy/broken.yaml":                                                "error",
	}
	if len(status) != len(want) {
		t.Errorf("test cases %v, want %v", status, want)
	}
	for name, st := range want {
		if status[name] != st {
			t.Errorf("%s: %q, want %q", name, status[name], st)
		}
	}
}

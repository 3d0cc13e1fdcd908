package check

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/verify"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Props     *junitProps   `xml:"properties,omitempty"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProps struct {
	Property []junitProperty `xml:"property"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes r as JUnit XML: a test suite per file, a test case per
// image, failed when denied.
//
// The format is the de-facto one (Ant's, as Jenkins and GitLab read it):
// testsuites, a testsuite per input file (in the report's order) with
// tests, failures and errors counts, a testcase per image named after its
// object, container and image, with the file as classname and file
// attribute. A denied image is a <failure>, an inconclusive one an
// <error>; a denial the policy only warns about or audits passes, with the
// reason in <system-out>. A file that could not be read is a suite with
// one errored test case. Each test case's properties carry the decision
// (outcome, mode, rule, pinned reference).
func WriteJUnit(w io.Writer, r *Report) error {
	out := junitSuites{Name: "signet check", Time: "0"}
	index := map[string]int{}
	suite := func(file string) *junitSuite {
		i, ok := index[file]
		if !ok {
			i = len(out.Suites)
			index[file] = i
			out.Suites = append(out.Suites, junitSuite{Name: file, Time: "0", Properties: []junitProperty{{Name: "file", Value: file}}})
		}
		return &out.Suites[i]
	}
	for _, res := range r.Results {
		s, d := suite(res.File), res.Decision
		c := junitCase{Name: fmt.Sprintf("%s: %s", object(res.Finding), res.Image), Classname: res.File, File: res.File, Line: res.Line, Time: "0"}
		for _, p := range [][2]string{{"image", res.Image}, {"path", res.Path}, {"outcome", string(d.Outcome)}, {"mode", d.Mode}, {"rule", d.Rule}, {"validator", d.Validator}, {"pinned", d.Pinned}} {
			if p[1] != "" {
				if c.Props == nil {
					c.Props = &junitProps{}
				}
				c.Props.Property = append(c.Props.Property, junitProperty{Name: p[0], Value: p[1]})
			}
		}
		reason := strings.TrimSuffix(d.Reason, ".")
		text := fmt.Sprintf("%s:%d: %s %s: %s\nRun: signet explain %s", res.File, res.Line, object(res.Finding), res.Image, reason, res.Image)
		switch {
		case d.Allowed:
			c.SystemOut = "allowed: " + reason
		case d.Mode == policy.ModeWarn || d.Mode == policy.ModeAudit:
			c.SystemOut = fmt.Sprintf("denied (%s mode, admitted): %s\nRun: signet explain %s", d.Mode, reason, res.Image)
		case d.Outcome == verify.Inconclusive:
			c.Error = &junitProblem{Message: "inconclusive: " + reason, Type: "inconclusive", Text: text}
			s.Errors++
		default:
			c.Failure = &junitProblem{Message: "denied: " + reason, Type: "denied", Text: text}
			s.Failures++
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	for _, fe := range r.Errors {
		s := suite(fe.File)
		s.Cases = append(s.Cases, junitCase{Name: "read " + fe.File, Classname: fe.File, File: fe.File, Line: fe.Line, Time: "0",
			Error: &junitProblem{Message: fe.Err, Type: "input", Text: fmt.Sprintf("%s:%d: %s", fe.File, fe.Line, fe.Err)}})
		s.Tests++
		s.Errors++
	}
	for _, s := range out.Suites {
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

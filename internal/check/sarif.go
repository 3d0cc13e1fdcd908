package check

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/verify"
)

// The SARIF rules: what a result reports.
const (
	// RuleDenied is an image the policy denies.
	RuleDenied = "image-denied"
	// RuleInconclusive is an image whose verification could not finish
	// (a registry or transparency log unreachable): denied, but running
	// again may allow it.
	RuleInconclusive = "image-inconclusive"
	// RuleInput is a file that could not be read or parsed.
	RuleInput = "input-error"
)

const (
	sarifSchema  = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
	signetURI    = "https://github.com/signet-dev/signet"
	fingerprint1 = "signetFinding/v1"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations"`
	ColumnKind  string            `json:"columnKind"`
	Results     []sarifResult     `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string       `json:"id"`
	Name                 string       `json:"name"`
	ShortDescription     sarifMessage `json:"shortDescription"`
	FullDescription      sarifMessage `json:"fullDescription"`
	Help                 sarifMessage `json:"help"`
	HelpURI              string       `json:"helpUri"`
	DefaultConfiguration struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
	// Properties carry what GitHub code scanning reads: tags (security
	// alerts need "security") and security-severity (0–10).
	Properties map[string]any `json:"properties"`
}

type sarifMessage struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool `json:"executionSuccessful"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifMessage      `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation struct {
		ArtifactLocation struct {
			URI string `json:"uri"`
		} `json:"artifactLocation"`
		Region *sarifRegion `json:"region,omitempty"`
	} `json:"physicalLocation"`
}

type sarifRegion struct {
	StartLine   int `json:"startLine"`
	StartColumn int `json:"startColumn,omitempty"`
}

var sarifRules = []sarifRule{
	rule(RuleDenied, "ImageDenied", "error", "8.0",
		"Image denied by the signet policy",
		"The image is not signed as the policy requires (no rule matches it, no valid signature from a trusted signer, a required attestation is missing, or a static rule denies it); admission would deny the workload.",
		"Sign the image as the policy requires, or pin an image that is. `signet explain IMAGE` prints the whole decision: the rule that matched, each signature and trust root tried and what each check concluded."),
	rule(RuleInconclusive, "ImageInconclusive", "error", "5.0",
		"Image verification inconclusive",
		"The image's signatures could not be verified because a registry, key source or transparency log could not be reached or answered in time; admission would deny the workload until verification succeeds.",
		"Run the check again; if it persists, run `signet explain IMAGE` to see which request failed."),
	rule(RuleInput, "InputError", "error", "",
		"File could not be read",
		"An input file could not be read or parsed as Kubernetes manifests or a Compose file, so its images were not checked.",
		"Fix the file so that it parses (the message names the problem)."),
}

func rule(id, name, level, severity, short, full, help string) sarifRule {
	r := sarifRule{ID: id, Name: name, ShortDescription: sarifMessage{Text: short}, FullDescription: sarifMessage{Text: full},
		Help: sarifMessage{Text: strings.ReplaceAll(help, "`", ""), Markdown: help}, HelpURI: signetURI + "/blob/main/docs/cli.md",
		Properties: map[string]any{"tags": []string{"supply-chain"}}}
	r.DefaultConfiguration.Level = level
	if severity != "" {
		r.Properties["tags"] = []string{"security", "supply-chain"}
		r.Properties["security-severity"] = severity
	}
	return r
}

// WriteSARIF writes r as a SARIF 2.1.0 log: one result per denied or
// inconclusive image, located at its line, so that code-scanning UIs
// annotate it. toolVersion is signet's version.
//
// Allowed images are not results: code-scanning UIs show every result as
// an alert (the JSON output lists them). A denial in warn mode is a
// warning, in audit mode a note; in enforce mode an error. Each file that
// could not be read is an error result of the input-error rule, at the
// file (and line when known). Paths are written as relative URIs with
// forward slashes, as given (run signet check from the repository's root
// for GitHub code scanning to find them). partialFingerprints hash what
// identifies a finding — rule, file, object, container, path and image,
// not the line or the reason's wording — so the same finding keeps one
// alert across runs.
func WriteSARIF(w io.Writer, r *Report, toolVersion string) error {
	run := sarifRun{
		Tool:        sarifTool{Driver: sarifDriver{Name: "signet", Version: toolVersion, InformationURI: signetURI, Rules: sarifRules}},
		Invocations: []sarifInvocation{{ExecutionSuccessful: len(r.Errors) == 0}},
		ColumnKind:  "unicodeCodePoints",
		Results:     []sarifResult{},
	}
	for _, res := range r.Results {
		d := res.Decision
		if d.Allowed {
			continue
		}
		ruleID, verb := RuleDenied, "denied"
		if d.Outcome == verify.Inconclusive {
			ruleID, verb = RuleInconclusive, "could not be verified"
		}
		text := fmt.Sprintf("%s (%s) %s: %s. Run `signet explain %s` for the whole decision.",
			res.Image, object(res.Finding), verb, strings.TrimSuffix(d.Reason, "."), res.Image)
		props := map[string]any{"image": res.Image, "kind": res.Kind, "name": res.Name, "path": res.Path, "outcome": string(d.Outcome), "mode": d.Mode}
		for k, v := range map[string]string{"namespace": res.Namespace, "container": res.Container, "rule": d.Rule, "validator": d.Validator} {
			if v != "" {
				props[k] = v
			}
		}
		run.Results = append(run.Results, sarifResult{
			RuleID: ruleID, RuleIndex: ruleIndex(ruleID), Level: level(d.Mode),
			Message:             sarifMessage{Text: text},
			Locations:           []sarifLocation{location(res.File, res.Line, res.Column)},
			PartialFingerprints: map[string]string{fingerprint1: fingerprint(ruleID, res.File, res.Kind, res.Namespace, res.Name, res.Section, res.Container, res.Path, res.Image)},
			Properties:          props,
		})
	}
	for _, fe := range r.Errors {
		run.Results = append(run.Results, sarifResult{
			RuleID: RuleInput, RuleIndex: ruleIndex(RuleInput), Level: "error",
			Message:             sarifMessage{Text: fmt.Sprintf("%s could not be checked: %s", fe.File, fe.Err)},
			Locations:           []sarifLocation{location(fe.File, fe.Line, 0)},
			PartialFingerprints: map[string]string{fingerprint1: fingerprint(RuleInput, fe.File)},
		})
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: sarifSchema, Version: "2.1.0", Runs: []sarifRun{run}})
}

// level is the SARIF level of a denial in the policy mode.
func level(mode string) string {
	switch mode {
	case policy.ModeWarn:
		return "warning"
	case policy.ModeAudit:
		return "note"
	}
	return "error"
}

func ruleIndex(id string) int {
	for i, r := range sarifRules {
		if r.ID == id {
			return i
		}
	}
	return -1
}

// object names where an image is: "Deployment team/web, container app",
// "Pod db, volume data" or "Service web".
func object(f Finding) string {
	s := f.Kind + " " + f.Name
	if f.Namespace != "" {
		s = f.Kind + " " + f.Namespace + "/" + f.Name
	}
	switch {
	case f.Container == "":
	case f.Section == "volumes":
		s += ", volume " + f.Container
	default:
		s += ", container " + f.Container
	}
	return s
}

func location(file string, line, col int) sarifLocation {
	var l sarifLocation
	l.PhysicalLocation.ArtifactLocation.URI = fileURI(file)
	if line > 0 {
		l.PhysicalLocation.Region = &sarifRegion{StartLine: line, StartColumn: max(col, 0)}
	}
	return l
}

// fileURI is file as a URI reference: relative with forward slashes (as
// GitHub code scanning matches them against the repository), an absolute
// path as a file: URI, standard input as "stdin".
func fileURI(file string) string {
	if file == "-" || file == "" {
		return "stdin"
	}
	if filepath.IsAbs(file) {
		p := filepath.ToSlash(file)
		if !strings.HasPrefix(p, "/") {
			p = "/" + p // a Windows drive
		}
		return (&url.URL{Scheme: "file", Path: p}).String()
	}
	p := strings.TrimPrefix(filepath.ToSlash(filepath.Clean(file)), "./")
	return (&url.URL{Path: p}).String()
}

func fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

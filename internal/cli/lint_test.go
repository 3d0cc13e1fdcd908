package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/cli"
)

// TestPolicyLint: exit codes, the text on stderr (file:line:column per
// error, notes for what needs the cluster), and the JSON report on stdout.
func TestPolicyLint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	valid := write("valid.yaml", "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\n"+
		"validators: [{name: s, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: s}]\n")
	withSecret := write("secret.yaml", "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators:\n"+
		"  - name: c\n    type: cosign\n    auth: {secretName: regcreds}\n    trustRoots: [{name: k, key: \"k8s://signet/cosign-pub\"}]\n"+
		"rules: [{pattern: \"ghcr.io/**\", validator: c}]\n")
	invalid := write("invalid.yaml", "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nmode: enforse\n"+
		"validators: [{name: s, type: static, approve: \"yes\"}]\nrules:\n  - pattern: \"**\"\n    validator: t\n")
	platforms := write("platforms.yaml", "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\n"+
		"validators: [{name: s, type: static, approve: true}]\nrules:\n  - {pattern: \"**\", validator: s, with: {platforms: every}}\n")
	anyOf := write("anyof.yaml", "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators:\n"+
		"  - name: c\n    type: cosign\n    trustRoots: [{name: k, key: \"k8s://signet/cosign-pub\"}]\n"+
		"rules:\n  - pattern: \"ghcr.io/**\"\n    validator: c\n    with:\n      platforms: {any-of: [linux/amd64, linux/arm64, linux/arm64/v8]}\n")
	missing := filepath.Join(dir, "missing.yaml")

	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     []string
		jsonErrors int // -1: no JSON expected
	}{
		{"valid", []string{valid}, 0, []string{valid + ": valid\n"}, nil, -1},
		{"valid json", []string{"-o", "json", valid}, 0, []string{`"valid": true`, `"errors": []`}, nil, 0},
		{"cluster checks are notes", []string{withSecret}, 0, []string{": valid"}, []string{
			withSecret + `:6:24: note: validators[0].auth.secretName: Secret "regcreds": only its name is checked here`,
			withSecret + `:7:33: note: validators[0].trustRoots[0].key: k8s://signet/cosign-pub: only its syntax is checked here`}, -1},
		{"invalid", []string{invalid}, 2, nil, []string{
			invalid + `:3:7: mode: must be "enforce", "warn" or "audit", got "enforse"`,
			invalid + `:4:47: validators[0].approve: expected true or false, got the string "yes"`,
			invalid + `:7:16: rules[0].validator: unknown validator "t"`,
			"signet: invalid policy " + invalid + ": 3 errors"}, -1},
		{"invalid json", []string{"--output", "json", invalid}, 2, []string{`"valid": false`, `"field": "rules[0].validator"`, `"line": 7`, `"column": 16`},
			[]string{invalid + `:3:7: mode:`}, 3},
		{"platforms", []string{platforms}, 2, nil, []string{
			platforms + `:5:53: rules[0].with.platforms: must be "index", "all" or {any-of: [os/arch, …]}, got "every"`}, -1},
		{"platforms any-of", []string{anyOf}, 2, nil, []string{
			anyOf + `:11:54: rules[0].with.platforms.any-of[2]: "linux/arm64/v8" is the same platform as "linux/arm64" (any-of[1])`,
			anyOf + `:11:19: note: rules[0].with.platforms.any-of: only the manifests of [linux/amd64, linux/arm64, linux/arm64/v8] are verified`}, -1},
		{"unreadable", []string{"-o", "json", missing}, 2, []string{`"valid": false`, "reading policy"}, []string{"reading policy"}, 1},
		{"bad output", []string{"-o", "yaml", valid}, 2, nil, []string{"--output must be text or json"}, -1},
		{"no file", nil, 2, nil, nil, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := cli.Execute(context.Background(), append([]string{"policy", "lint"}, tc.args...), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout.String(), stderr.String())
			}
			for _, w := range tc.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if tc.jsonErrors < 0 {
				return
			}
			var report struct {
				File   string `json:"file"`
				Valid  bool   `json:"valid"`
				Errors []struct {
					Field   string `json:"field"`
					Message string `json:"message"`
					Line    int    `json:"line"`
					Column  int    `json:"column"`
				} `json:"errors"`
				Notes []json.RawMessage `json:"notes"`
			}
			dec := json.NewDecoder(&stdout)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&report); err != nil {
				t.Fatalf("stdout is not the JSON report: %v", err)
			}
			if len(report.Errors) != tc.jsonErrors || report.Valid != (tc.code == 0) || report.File != tc.args[len(tc.args)-1] || report.Notes == nil {
				t.Errorf("report %+v: want %d errors, valid %v", report, tc.jsonErrors, tc.code == 0)
			}
			for _, e := range report.Errors {
				if e.Message == "" {
					t.Errorf("error without a message: %+v", e)
				}
			}
		})
	}
}

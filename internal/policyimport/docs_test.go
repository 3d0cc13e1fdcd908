package policyimport

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// uncommented drops comment lines and the header the examples leave out.
func uncommented(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(l, "apiVersion:") || strings.HasPrefix(l, "kind:") ||
			strings.HasPrefix(l, "metadata:") || strings.HasPrefix(l, "  name: imported-") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// TestDocMigrationExamples: each migration section's example converts into
// exactly the policy the section shows (comments aside), and it lints.
func TestDocMigrationExamples(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	for _, tc := range []struct{ tool, section string }{
		{"connaisseur", "## Migrating from Connaisseur"},
		{"policy-controller", "## Migrating from policy-controller"},
	} {
		_, sec, ok := strings.Cut(doc, tc.section+"\n")
		if !ok {
			t.Fatalf("docs/policy.md has no %q", tc.section)
		}
		if i := strings.Index(sec, "\n## "); i >= 0 {
			sec = sec[:i]
		}
		blocks := yamlBlock.FindAllStringSubmatch(sec, -1)
		if len(blocks) != 2 {
			t.Fatalf("%s: %d YAML blocks, want the input and the output", tc.section, len(blocks))
		}
		res, err := Import(tc.tool, []Input{{Name: "in.yaml", Data: []byte(blocks[0][1])}})
		if err != nil {
			t.Fatalf("%s: %v", tc.section, err)
		}
		if got, want := uncommented(string(res.Policy)), uncommented(blocks[1][1]); got != want {
			t.Errorf("%s: the example converts into\n%s\nthe section shows\n%s", tc.section, got, want)
		}
		if r := policy.Lint(res.Policy); !r.Valid() {
			t.Errorf("%s: %v", tc.section, r.Errors)
		}
	}
}

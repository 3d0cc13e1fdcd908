package manifest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/manifest"
)

func findings(t *testing.T, data string) []string {
	t.Helper()
	f, err := manifest.Parse(context.Background(), "m.yaml", []byte(data), manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, fd := range f.Findings() {
		out = append(out, fmt.Sprintf("%d:%d %s/%s %s %s %s %s", fd.Line, fd.Column, fd.Kind, fd.Name, fd.Section, fd.Container, fd.Path, fd.Image))
	}
	return out
}

// TestParse: every image the webhook finds, at its line and column.
func TestParse(t *testing.T) {
	mixed, err := os.ReadFile("testdata/mixed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, data string
		want       []string
	}{
		{"mixed", string(mixed), []string{
			"21:18 Deployment/web initContainers migrate /spec/template/spec/initContainers/0/image registry.example/shop/migrate:2",
			"24:18 Deployment/web containers app /spec/template/spec/containers/0/image registry.example/shop/web:1.4",
			"26:18 Deployment/web containers sidecar /spec/template/spec/containers/1/image registry.example/proxy:3",
			"30:24 Deployment/web volumes data /spec/template/spec/volumes/0/image/reference registry.example/shop/data:7",
			"41:47 CronJob/nightly containers job /spec/jobTemplate/spec/template/spec/containers/0/image registry.example/jobs/nightly:1",
			"50:12 Pod/debug containers main /spec/containers/0/image registry.example/base:9",
			"50:12 Pod/debug ephemeralContainers shell /spec/ephemeralContainers/0/image registry.example/base:9",
		}},
		{"json", `{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
  "spec": {"containers": [{"name": "a", "image": "nginx:1"}, {"name": "b", "image": "redis"}]}}`, []string{
			"2:50 Pod/p containers a /spec/containers/0/image nginx:1",
			"2:85 Pod/p containers b /spec/containers/1/image redis",
		}},
		{"merge key", "base: &b\n  containers:\n  - {name: a, image: hidden:1}\n---\nkind: Pod\nmetadata: {name: p}\nspec:\n  <<: {containers: [{name: a, image: hidden:1}]}\n", []string{
			"8:38 Pod/p containers a /spec/containers/0/image hidden:1",
		}},
		{"container without image", "kind: Pod\nspec:\n  containers:\n  - name: a\n", []string{
			"4:5 Pod/ containers a /spec/containers/0/image ",
		}},
		{"crlf", "kind: Pod\r\nspec:\r\n  containers:\r\n  - image: a:1 # c\r\n", []string{
			"4:12 Pod/ containers  /spec/containers/0/image a:1",
		}},
		{"items of any kind", "kind: ConfigMap\nitems:\n- {kind: Pod, metadata: {name: p}, spec: {containers: [{image: hidden:1}]}}\n- just text\n", []string{
			"3:64 Pod/p containers  /spec/containers/0/image hidden:1",
		}},
		{"binary image", "kind: Pod\nspec:\n  containers:\n  - image: !!binary ZXZpbDox\n", []string{
			"4:12 Pod/ containers  /spec/containers/0/image evil:1",
		}},
		{"skipped", "kind: Service\n---\n- a\n- b\n---\n# nothing\n---\nkind: Deployment\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := findings(t, tc.data)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestParseErrors: what is not a manifest is an error naming the file and
// the line.
func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, data, want string
		limit            bool
	}{
		{"text", "This is a README.\n", "m.yaml:1: not a YAML or JSON object: a !!str value", false},
		{"broken yaml", "kind: Pod\nspec: [\n", "m.yaml:", false},
		{"broken second document", "kind: Pod\n---\nkind: Pod\nspec:\n  containers: {\n", "m.yaml:", false},
		{"binary", "\xff\xfe\x00", "not UTF-8", false},
		{"duplicate key", "kind: Pod\nspec:\n  containers: []\n  containers: [{image: evil}]\n", "duplicate", false},
		{"image not a string", "kind: Pod\nspec:\n  containers: [{image: 5}]\n", "m.yaml:1:", false},
		{"two kinds", "kind: ConfigMap\nkind: Pod\nspec: {containers: [{image: evil}]}\n", `m.yaml:1: "kind" is given twice`, false},
		{"too many documents", strings.Repeat("---\n", manifest.MaxDocuments+1), "more than 10000 documents", true},
		{"large document", "kind: Pod\nx: " + strings.Repeat("a", manifest.MaxDocumentBytes) + "\n", "m.yaml:1: over signet check's limits: a document of more than", true},
		{"alias bomb", aliasBomb(), "more than 8388608 bytes of JSON", true},
		{"list depth", strings.Repeat("kind: List\nitems:\n- ", 1) + nestedLists(10), "Lists nested more than 8 deep", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := manifest.Parse(context.Background(), "m.yaml", []byte(tc.data), manifest.Options{})
			var e *manifest.Error
			if !errors.As(err, &e) || !strings.Contains(err.Error(), tc.want) || errors.Is(err, manifest.ErrLimit) != tc.limit {
				t.Fatalf("error %v, want a *manifest.Error with %q (limit %v)", err, tc.want, tc.limit)
			}
			if e.File != "m.yaml" || (e.Line == 0 && tc.name != "binary") {
				t.Errorf("error %+v names no file or line", e)
			}
		})
	}
}

// aliasBomb is a "billion laughs" Pod: nine levels of ten aliases each.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("kind: Pod\nl0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("spec: {containers: [{image: a}]}\n")
	return b.String()
}

func nestedLists(n int) string {
	s := "{kind: Pod, spec: {containers: [{image: a}]}}"
	for i := 0; i < n; i++ {
		s = "{kind: List, items: [" + s + "]}"
	}
	return s + "\n"
}

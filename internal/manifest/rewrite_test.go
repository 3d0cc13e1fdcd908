package manifest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/manifest"
)

const digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// TestRewrite: pinning every image changes only the lines the images are
// on, keeps each value's quotes, and pinning again changes nothing.
func TestRewrite(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"styles and comments",
			"# top\nkind: Pod # the pod\nspec:\n  containers:\n  - image: a:1   # plain\n  - image: \"b:2\"\n  - {name: c, image: 'c:3'}\n",
			"# top\nkind: Pod # the pod\nspec:\n  containers:\n  - image: a:1" + digest + "   # plain\n  - image: \"b:2" + digest + "\"\n  - {name: c, image: 'c:3" + digest + "'}\n"},
		{"crlf and separators",
			"---\r\nkind: Service\r\n---\r\nkind: Pod\r\nspec:\r\n  containers:\r\n  - image: a:1\r\n...\r\n",
			"---\r\nkind: Service\r\n---\r\nkind: Pod\r\nspec:\r\n  containers:\r\n  - image: a:1" + digest + "\r\n...\r\n"},
		{"json",
			`{"kind":"Pod","spec":{"containers":[{"image":"a:1"},{"image":"b"}]}}`,
			`{"kind":"Pod","spec":{"containers":[{"image":"a:1` + digest + `"},{"image":"b` + digest + `"}]}}`},
		{"anchor shared", "kind: Pod\nspec:\n  containers:\n  - image: &i a:1\n  initContainers:\n  - image: *i\n",
			"kind: Pod\nspec:\n  containers:\n  - image: &i a:1" + digest + "\n  initContainers:\n  - image: *i\n"},
		{"tagged", "kind: Pod\nspec:\n  containers:\n  - image: !!str a:1\n",
			"kind: Pod\nspec:\n  containers:\n  - image: !!str a:1" + digest + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := pin(t, []byte(tc.in))
			if string(out) != tc.want {
				t.Fatalf("rewritten:\n%q\nwant:\n%q", out, tc.want)
			}
			if again := pin(t, out); string(again) != string(out) {
				t.Errorf("pinning again changed the file:\n%q", again)
			}
		})
	}
}

// pin rewrites every image of data to itself, digest appended (once).
func pin(t *testing.T, data []byte) []byte {
	t.Helper()
	f, err := manifest.Parse(context.Background(), "m.yaml", data, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	refs := map[int]string{}
	for i, fd := range f.Findings() {
		ref, _, _ := strings.Cut(fd.Image, "@")
		refs[i] = ref + digest
	}
	files, err := f.Rewrite(refs)
	if err != nil {
		t.Fatal(err)
	}
	if out, ok := files["m.yaml"]; ok {
		return out
	}
	return data
}

// TestRewriteRefuses: a value that cannot be spliced safely, or two images
// for one value, is an error, never a re-marshalled document.
func TestRewriteRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		refs     map[int]string
		want     string
	}{
		{"block scalar", "kind: Pod\nspec:\n  containers:\n  - image: |\n      a:1\n", map[int]string{0: "a:1" + digest}, "block scalar"},
		{"multi-line plain", "kind: Pod\nspec:\n  containers:\n  - image: a\n      b\n", map[int]string{0: "a" + digest}, "several lines"},
		{"one anchor, two images", "kind: Pod\nspec:\n  containers:\n  - image: &i a:1\n  - image: *i\n", map[int]string{0: "a:1" + digest, 1: "b:1" + digest}, "two images"},
		{"alias half rewritten", "kind: Pod\nspec:\n  containers:\n  - image: &i a:1\n  - image: *i\n", map[int]string{0: "a:1" + digest}, "the rewritten file has"},
		{"no image", "kind: Pod\nspec:\n  containers:\n  - name: a\n", map[int]string{0: "a" + digest}, "no image to rewrite"},
		{"unsafe reference", "kind: Pod\nspec:\n  containers:\n  - image: a\n", map[int]string{0: "a # b"}, "cannot write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := manifest.Parse(context.Background(), "m.yaml", []byte(tc.in), manifest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Rewrite(tc.refs); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

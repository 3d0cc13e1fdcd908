package manifest_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/manifest"
)

// FuzzParse: no input crashes or hangs the parser; whatever it finds can be
// pinned, or the rewrite is refused, and a pinned file keeps every byte
// outside the images' values.
func FuzzParse(f *testing.F) {
	mixed, _ := os.ReadFile("testdata/mixed.yaml")
	for _, s := range []string{
		string(mixed),
		`{"kind":"Pod","spec":{"containers":[{"image":"a:1"},{"image":"b"}]}}`,
		"kind: Pod\nspec:\n  <<: {containers: [{name: a, image: hidden:1}]}\n",
		"kind: Pod\nspec:\n  containers:\n  - image: &i a:1\n  initContainers:\n  - image: *i\n",
		"kind: Pod\r\nspec:\r\n  containers:\r\n  - image: 'a:1' # c\r\n---\r\nkind: List\r\nitems: []\r\n",
		"kind: CronJob\nspec: {jobTemplate: {spec: {template: {spec: {volumes: [{image: {reference: \"v\"}}]}}}}}\n",
		aliasBomb(),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := manifest.Parse(context.Background(), "f.yaml", data, manifest.Options{})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		refs := map[int]string{}
		for i, fd := range file.Findings() {
			if fd.File != "f.yaml" || fd.Line < 1 {
				t.Fatalf("finding %+v: no place in the file", fd)
			}
			refs[i] = "pinned.example/app:1" + digest
		}
		files, err := file.Rewrite(refs)
		if err != nil {
			return
		}
		out, ok := files["f.yaml"]
		if !ok {
			return
		}
		// Every byte before the first change and after the last is kept.
		i := 0
		for i < len(out) && i < len(data) && out[i] == data[i] {
			i++
		}
		j := 0
		for j < len(out)-i && j < len(data)-i && out[len(out)-1-j] == data[len(data)-1-j] {
			j++
		}
		if changed := out[i : len(out)-j]; !bytes.Contains(changed, []byte(digest)) {
			t.Fatalf("the rewrite changed %q, which is no image", changed)
		}
	})
}

package compose_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/compose"
	"github.com/signet-dev/signet/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestStack loads testdata/stack (interpolation from the environment, .env
// and defaults, the environment's APP_TAG winning over .env's; a YAML merge
// key; extends across files and within the file; an image volume; a
// service that builds; a profile) as signet check names it, relative to the
// working directory, and pins every image: the findings and the rewritten
// files are compared with goldens (go test -update rewrites them).
func TestStack(t *testing.T) {
	name := filepath.Join("testdata", "stack", "compose.yaml")
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := compose.Load(name, data, compose.Options{Environ: []string{"WEB_TAG=1.5", "APP_TAG=2.2"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(f.Findings(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, filepath.Join("testdata", "stack.findings.json"), append(got, '\n'), *update)

	refs := map[int]string{}
	for i, fd := range f.Findings() {
		refs[i] = fd.Image + "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	}
	out, err := f.Rewrite(refs)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 {
		t.Errorf("rewrote %d files, want compose.yaml and common/base.yaml", len(out))
	}
	for p, b := range out {
		rel, err := filepath.Rel(filepath.Join("testdata", "stack"), p)
		if err != nil || strings.HasPrefix(rel, "..") {
			t.Fatalf("rewrote %s, outside the stack", p)
		}
		testutil.Golden(t, filepath.Join("testdata", "stack.pinned", rel), b, *update)
	}
}

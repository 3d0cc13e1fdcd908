package compose_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/signet-dev/signet/internal/compose"
)

// FuzzLoad feeds Detect and Load arbitrary files: never a panic or a hang;
// a loaded file's findings point into it, and rewriting every one of them
// gives files that load again with the same number of findings.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"services:\n  a:\n    image: \"app:${TAG:-1}\"\n",
		"services:\n  a: {image: 'x', volumes: [{type: image, source: y, target: /y}]}\n",
		"x-a: &a {image: app:1}\nservices:\n  a: *a\n  b:\n    <<: *a\n",
		"services:\n  a:\n    extends: b\n  b:\n    image: >-\n      app:1\n",
		"services:\n  a:\n    build: .\n    image: app:1\n",
		`{"services": {"a": {"image": "app:1"}}}`,
		"apiVersion: v1\nkind: Pod\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		compose.Detect(data)
		if len(data) > 1<<16 {
			return
		}
		dir := t.TempDir()
		name := filepath.Join(dir, "compose.yaml")
		file, err := compose.Load(name, data, compose.Options{Environ: []string{"COMPOSE_DISABLE_ENV_FILE=1"}})
		if err != nil {
			return
		}
		refs := map[int]string{}
		for i, fd := range file.Findings() {
			if fd.File != name {
				t.Fatalf("finding %d in %s, want %s (no extends file exists)", i, fd.File, name)
			}
			refs[i] = "registry.example/pinned@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
		}
		out, err := file.Rewrite(refs)
		if err != nil {
			return
		}
		for p, b := range out {
			if p != name {
				t.Fatalf("rewrote %s, want only %s", p, name)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			again, err := compose.Load(name, b, compose.Options{Environ: []string{"COMPOSE_DISABLE_ENV_FILE=1"}})
			if err != nil {
				t.Fatalf("the rewritten file does not load: %v\n%s", err, b)
			}
			if len(again.Findings()) != len(file.Findings()) {
				t.Fatalf("%d findings after the rewrite, %d before\n%s", len(again.Findings()), len(file.Findings()), b)
			}
		}
	})
}

package compose_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/signet-dev/signet/internal/check"
	"github.com/signet-dev/signet/internal/compose"
)

// writeTree writes files (path → content) under a new directory and returns
// it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// load loads dir/compose.yaml with opts; env file paths in opts are
// relative to dir.
func load(t *testing.T, dir string, opts compose.Options) (check.File, error) {
	t.Helper()
	name := filepath.Join(dir, "compose.yaml")
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range opts.EnvFiles {
		opts.EnvFiles[i] = filepath.Join(dir, p)
	}
	return compose.Load(name, data, opts)
}

// short is a finding without its directory, for comparing.
type short struct {
	File, Kind, Name, Path, Image, Section, Container string
	Line, Column                                      int
	NoPin                                             bool
}

func shorten(dir string, fs []check.Finding) []short {
	var out []short
	for _, f := range fs {
		rel, _ := filepath.Rel(dir, f.File)
		out = append(out, short{File: filepath.ToSlash(rel), Kind: f.Kind, Name: f.Name, Path: f.Path, Image: f.Image,
			Section: f.Section, Container: f.Container, Line: f.Line, Column: f.Column, NoPin: f.NoPin != ""})
	}
	return out
}

func TestLoad(t *testing.T) {
	profiled := map[string]string{"compose.yaml": `services:
  app: {image: app:1}
  debug:
    image: busybox:1
    profiles: [debug]
`}
	interp := map[string]string{"compose.yaml": `services:
  web:
    image: "nginx:${TAG:-1.25}"
  db:
    image: ${REGISTRY:-docker.io}/library/postgres:${PG?postgres version}
`}
	tests := []struct {
		name  string
		files map[string]string
		opts  compose.Options
		want  []short
		err   string
	}{
		{
			name:  "interpolation with defaults",
			files: interp,
			opts:  compose.Options{Environ: []string{"PG=16"}},
			want: []short{
				{File: "compose.yaml", Kind: "Service", Name: "web", Path: "services.web.image", Image: "nginx:1.25", Line: 3, Column: 12},
				{File: "compose.yaml", Kind: "Service", Name: "db", Path: "services.db.image", Image: "docker.io/library/postgres:16", Line: 5, Column: 12},
			},
		},
		{
			name:  "required variable unset",
			files: interp,
			err:   "postgres version",
		},
		{
			name:  ".env next to the file, the environment wins",
			files: map[string]string{"compose.yaml": interp["compose.yaml"], ".env": "TAG=1.26\nPG=15\nREGISTRY=registry.example\n"},
			opts:  compose.Options{Environ: []string{"PG=16"}},
			want: []short{
				{File: "compose.yaml", Kind: "Service", Name: "web", Path: "services.web.image", Image: "nginx:1.26", Line: 3, Column: 12},
				{File: "compose.yaml", Kind: "Service", Name: "db", Path: "services.db.image", Image: "registry.example/library/postgres:16", Line: 5, Column: 12},
			},
		},
		{
			name: "--env-file replaces .env, later files win, variables expand",
			files: map[string]string{"compose.yaml": interp["compose.yaml"], ".env": "TAG=1.26\n",
				"ci.env": "PG=14\nTAG=1.0\n", "ci2.env": "TAG=1.27-pg${PG}\n"},
			opts: compose.Options{EnvFiles: []string{"ci.env", "ci2.env"}},
			want: []short{
				{File: "compose.yaml", Kind: "Service", Name: "web", Path: "services.web.image", Image: "nginx:1.27-pg14", Line: 3, Column: 12},
				{File: "compose.yaml", Kind: "Service", Name: "db", Path: "services.db.image", Image: "docker.io/library/postgres:14", Line: 5, Column: 12},
			},
		},
		{
			name: "extends in the same file and in another file",
			files: map[string]string{
				"compose.yaml": `services:
  base:
    image: alpine:3.20
  worker:
    extends: base
    command: ["work"]
  api:
    extends:
      file: common/services.yaml
      service: app
  admin:
    extends:
      file: ${COMMON:-common}/services.yaml
      service: app
    image: 'registry.example/admin:2'
`,
				"common/services.yaml": `# shared definitions
services:
  app:
    extends: runtime
    environment:
      A: b
  runtime:
    image: registry.example/app:${APP_TAG:-1}
`,
			},
			want: []short{
				{File: "compose.yaml", Kind: "Service", Name: "base", Path: "services.base.image", Image: "alpine:3.20", Line: 3, Column: 12},
				{File: "compose.yaml", Kind: "Service", Name: "worker", Path: "services.worker.image", Image: "alpine:3.20", Line: 3, Column: 12},
				{File: "common/services.yaml", Kind: "Service", Name: "api", Path: "services.api.image", Image: "registry.example/app:1", Line: 8, Column: 12},
				{File: "compose.yaml", Kind: "Service", Name: "admin", Path: "services.admin.image", Image: "registry.example/admin:2", Line: 15, Column: 12},
			},
		},
		{
			name:  "profiles: none given checks every service",
			files: profiled,
			want: []short{
				{File: "compose.yaml", Kind: "Service", Name: "app", Path: "services.app.image", Image: "app:1", Line: 2, Column: 16},
				{File: "compose.yaml", Kind: "Service", Name: "debug", Path: "services.debug.image", Image: "busybox:1", Line: 4, Column: 12},
			},
		},
		{
			name:  "profiles: an inactive profile's service does not run",
			files: profiled,
			opts:  compose.Options{Profiles: []string{"prod"}},
			want: []short{
				{File: "compose.yaml", Kind: "Service", Name: "app", Path: "services.app.image", Image: "app:1", Line: 2, Column: 16},
			},
		},
		{
			name: "profiles: COMPOSE_PROFILES",
			files: map[string]string{"compose.yaml": `services:
  debug:
    image: busybox:1
    profiles: [debug]
  other:
    image: other:1
    profiles: [other]
`},
			opts: compose.Options{Environ: []string{"COMPOSE_PROFILES=debug"}},
			want: []short{
				{File: "compose.yaml", Kind: "Service", Name: "debug", Path: "services.debug.image", Image: "busybox:1", Line: 3, Column: 12},
			},
		},
		{
			name: "build: pulled images are checked, built ones not",
			files: map[string]string{"compose.yaml": `services:
  built:
    build: .
  tagged:
    build: .
    image: registry.example/tagged:1
  local:
    build: .
    image: registry.example/local:1
    pull_policy: build
  mounted:
    image: app:1
    volumes:
      - type: image
        source: "registry.example/data:${DATA:-7}"
        target: /data
`},
			want: []short{
				{File: "compose.yaml", Kind: "Service", Name: "tagged", Path: "services.tagged.image", Image: "registry.example/tagged:1", Line: 6, Column: 12, NoPin: true},
				{File: "compose.yaml", Kind: "Service", Name: "mounted", Path: "services.mounted.image", Image: "app:1", Line: 12, Column: 12},
				{File: "compose.yaml", Kind: "Service", Name: "mounted", Path: "services.mounted.volumes[0].source", Image: "registry.example/data:7", Section: "volumes", Container: "/data", Line: 15, Column: 17},
			},
		},
		{
			name: "anchors and merge keys",
			files: map[string]string{"compose.yaml": `x-app: &app
  image: &img registry.example/app:1
services:
  one:
    <<: *app
  two:
    image: *img
`},
			want: []short{
				{File: "compose.yaml", Kind: "Service", Name: "one", Path: "services.one.image", Image: "registry.example/app:1", Line: 2, Column: 15},
				{File: "compose.yaml", Kind: "Service", Name: "two", Path: "services.two.image", Image: "registry.example/app:1", Line: 2, Column: 15},
			},
		},
		{
			name: "jobs",
			files: map[string]string{"compose.yaml": `services:
  app: {image: app:1}
jobs:
  migrate:
    image: registry.example/migrate:${V:-3}
    triggers: {manual: true}
`},
			want: []short{
				{File: "compose.yaml", Kind: "Service", Name: "app", Path: "services.app.image", Image: "app:1", Line: 2, Column: 16},
				{File: "compose.yaml", Kind: "Job", Name: "migrate", Path: "jobs.migrate.image", Image: "registry.example/migrate:3", Line: 5, Column: 12},
			},
		},
		{
			name: "env_file and label_file are never read",
			files: map[string]string{"compose.yaml": `services:
  app:
    image: app:1
    env_file: [/dev/zero, missing.env]
    label_file: /dev/zero
`},
			want: []short{{File: "compose.yaml", Kind: "Service", Name: "app", Path: "services.app.image", Image: "app:1", Line: 3, Column: 12}},
		},
		{
			name:  "documents: a later one's services, a later one's image",
			files: map[string]string{"compose.yaml": "services:\n  a: {image: app:1}\n  c: {image: app:3}\n---\nservices:\n  b: {image: app:2}\n  a: {image: app:4}\n"},
			want: []short{
				{File: "compose.yaml", Kind: "Service", Name: "a", Path: "services.a.image", Image: "app:4", Line: 7, Column: 14},
				{File: "compose.yaml", Kind: "Service", Name: "c", Path: "services.c.image", Image: "app:3", Line: 3, Column: 14},
				{File: "compose.yaml", Kind: "Service", Name: "b", Path: "services.b.image", Image: "app:2", Line: 6, Column: 14},
			},
		},
		{
			name:  "include is refused",
			files: map[string]string{"compose.yaml": "include: [other.yaml]\nservices: {}\n"},
			err:   "include is not supported",
		},
		{
			name:  "extends a file that is not there",
			files: map[string]string{"compose.yaml": "services:\n  a:\n    extends: {file: missing.yaml, service: b}\n"},
			err:   "missing.yaml",
		},
		{
			name:  "extends a file that is not YAML names it, not its content",
			files: map[string]string{"compose.yaml": "services:\n  a:\n    extends: {file: secret.txt, service: b}\n", "secret.txt": "s3cr3t-token\n"},
			err:   "secret.txt (extends file) is not a Compose file",
		},
		{
			name:  "extends a host file: read as compose reads it, never shown",
			files: map[string]string{"compose.yaml": "services:\n  a:\n    extends: {file: /proc/self/environ, service: b}\n"},
			err:   "/proc/self/environ (extends file) is not a Compose file",
		},
		{
			name:  "not a mapping",
			files: map[string]string{"compose.yaml": "- a\n- b\n"},
			err:   "not a YAML mapping",
		},
		{
			name:  "extends cycle",
			files: map[string]string{"compose.yaml": "services:\n  a: {extends: b}\n  b: {extends: a}\n"},
			err:   "ircular reference",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			f, err := load(t, dir, tc.opts)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(err.Error(), "PATH=") {
					t.Errorf("the error %q shows the file's content", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, shorten(dir, f.Findings())); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRewrite(t *testing.T) {
	const digest = "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		name  string
		files map[string]string
		pin   map[string]string // finding path → new reference
		want  map[string]string // file → content after
		err   string
	}{
		{
			name: "quoting, comments and interpolation",
			files: map[string]string{"compose.yaml": `# the stack
services:
  web:
    image: "nginx:${TAG:-1.25}"   # front
  db: {image: 'postgres:16', restart: always}
  cache:
    image: redis:7 # plain
`},
			pin: map[string]string{"services.web.image": "nginx:1.25" + digest, "services.db.image": "postgres:16" + digest, "services.cache.image": "redis:7" + digest},
			want: map[string]string{"compose.yaml": `# the stack
services:
  web:
    image: "nginx:1.25` + digest + `"   # front
  db: {image: 'postgres:16` + digest + `', restart: always}
  cache:
    image: redis:7` + digest + ` # plain
`},
		},
		{
			name: "extends: the file that writes the image",
			files: map[string]string{
				"compose.yaml":    "services:\n  api:\n    extends: {file: base.yaml, service: app}\n    ports: [\"80:80\"]\n",
				"base.yaml":       "services:\n  app:\n    image: app:1 # base\n",
				"unrelated.yaml":  "x: 1\n",
				"other/more.yaml": "y: 2\n",
			},
			pin:  map[string]string{"services.api.image": "app:1" + digest},
			want: map[string]string{"base.yaml": "services:\n  app:\n    image: app:1" + digest + " # base\n"},
		},
		{
			name:  "an anchor shared by two services is written once",
			files: map[string]string{"compose.yaml": "x-img: &img app:1\nservices:\n  a: {image: *img}\n  b: {image: *img}\n"},
			pin:   map[string]string{"services.a.image": "app:1" + digest, "services.b.image": "app:1" + digest},
			want:  map[string]string{"compose.yaml": "x-img: &img app:1" + digest + "\nservices:\n  a: {image: *img}\n  b: {image: *img}\n"},
		},
		{
			name:  "a shared value pinned two ways is an error",
			files: map[string]string{"compose.yaml": "x-img: &img app:1\nservices:\n  a: {image: *img}\n  b: {image: *img}\n"},
			pin:   map[string]string{"services.a.image": "app:1" + digest, "services.b.image": "app:2" + digest},
			err:   "share one written value",
		},
		{
			name:  "unchanged: nothing to write",
			files: map[string]string{"compose.yaml": "services:\n  a:\n    image: app:1" + digest + "\n"},
			pin:   map[string]string{"services.a.image": "app:1" + digest},
			want:  map[string]string{},
		},
		{
			name:  "a built service is not pinned",
			files: map[string]string{"compose.yaml": "services:\n  a:\n    build: .\n    image: app:1\n"},
			pin:   map[string]string{"services.a.image": "app:1" + digest},
			want:  map[string]string{},
		},
		{
			name:  "a block scalar is refused",
			files: map[string]string{"compose.yaml": "services:\n  a:\n    image: >-\n      app:1\n"},
			pin:   map[string]string{"services.a.image": "app:1" + digest},
			err:   "block scalar",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			f, err := load(t, dir, compose.Options{})
			if err != nil {
				t.Fatal(err)
			}
			refs := map[int]string{}
			for i, fd := range f.Findings() {
				if r, ok := tc.pin[fd.Path]; ok {
					refs[i] = r
				}
			}
			out, err := f.Rewrite(refs)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for name, b := range out {
				rel, _ := filepath.Rel(dir, name)
				got[filepath.ToSlash(rel)] = string(b)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("rewritten files (-want +got):\n%s", diff)
			}
			// Pinning what was pinned changes nothing.
			for name, b := range out {
				if err := os.WriteFile(name, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f2, err := load(t, dir, compose.Options{})
			if err != nil {
				t.Fatal(err)
			}
			again, err := f2.Rewrite(refs)
			if err != nil || len(again) != 0 {
				t.Errorf("second rewrite: %d files, %v; want none", len(again), err)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"services:\n  a: {image: x}\n", true},
		{"# c\nname: x\n\"services\": {}\n", true},
		{"---\nversion: '3'\nservices:\n", true},
		{`{"name": "x", "services": {"a": {"image": "x"}}}`, true},
		{`{"x": {"services": 1}, "y": [1, {"services": 2}]}`, false},
		{"apiVersion: v1\nkind: Service\nservices: x\n", false},
		{"apiVersion: apps/v1\nkind: Deployment\nspec:\n  services: x\n", false},
		{"a: 1\n---\nservices: {}\n", false},
		{"servicesx: 1\n", false},
		{"services", false},
		{"", false},
		{`{"apiVersion": "v1", "kind": "List", "services": []}`, false},
		{"\xef\xbb\xbfservices:\n", true},
	}
	for _, tc := range tests {
		if got := compose.Detect([]byte(tc.in)); got != tc.want {
			t.Errorf("Detect(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestLoadRelative loads a file named relative to the working directory,
// and standard input, whose extends files resolve against the working
// directory: findings and rewritten files are named as given.
func TestLoadRelative(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"stack/compose.yaml": "services:\n  a:\n    extends: {file: ../common/base.yaml, service: b}\n",
		"common/base.yaml":   "services:\n  b:\n    image: app:1\n",
	})
	t.Chdir(dir)
	data, err := os.ReadFile("stack/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, want string }{
		{"stack/compose.yaml", "common/base.yaml"},
		{"-", "../common/base.yaml"},
	} {
		if tc.name == "-" {
			t.Chdir(filepath.Join(dir, "stack"))
		}
		f, err := compose.Load(tc.name, data, compose.Options{})
		if err != nil {
			t.Fatal(err)
		}
		fs := f.Findings()
		if len(fs) != 1 || fs[0].File != tc.want || fs[0].Line != 3 {
			t.Fatalf("%s: findings %+v, want one in %s line 3", tc.name, fs, tc.want)
		}
		out, err := f.Rewrite(map[int]string{0: "app:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := out[tc.want]; !ok || len(out) != 1 {
			t.Errorf("%s: rewrote %v, want %s", tc.name, slices.Collect(maps.Keys(out)), tc.want)
		}
	}
}

// TestDetectCost: Detect reads a 64 MiB manifest stream without allocating.
func TestDetectCost(t *testing.T) {
	big := []byte("# Source: chart/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\n" + strings.Repeat("  x: y\n", 64<<20/7))
	json := []byte(`{"kind": "List", "items": [` + strings.Repeat(`{"a": "b"},`, 64<<20/11) + `{}]}`)
	for _, in := range [][]byte{big, json} {
		var got bool
		if n := testing.AllocsPerRun(1, func() { got = compose.Detect(in) }); n != 0 || got {
			t.Errorf("Detect: %v with %v allocations, want false with none", got, n)
		}
	}
}

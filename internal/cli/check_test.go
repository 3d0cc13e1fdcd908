package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/check"
	"github.com/signet-dev/signet/internal/testutil"
)

// checkEnv is a registry with signed and unsigned images and a policy
// over them.
type checkEnv struct {
	reg                   *testutil.Registry
	policy                string
	signed, signed2       name.Digest // signed/app:1, signed/app:2
	unsigned, unreach     string      // unsigned/app:1; an image on a registry that is down
	signedTag, signed2Tag string
}

func newCheckEnv(t *testing.T) *checkEnv {
	t.Helper()
	r := testutil.NewRegistry(t, false)
	k := testutil.NewKey(t)
	e := &checkEnv{reg: r}
	e.signed = r.PushImage(t, "signed/app:1")
	e.signed2 = r.PushImage(t, "signed/app:2")
	testutil.SignLegacy(t, e.signed, k)
	testutil.SignLegacy(t, e.signed2, k)
	r.PushImage(t, "unsigned/app:1")
	e.signedTag, e.signed2Tag = r.Host+"/signed/app:1", r.Host+"/signed/app:2"
	e.unsigned = r.Host + "/unsigned/app:1"
	down := testutil.NewRegistry(t, false)
	e.unreach = down.Host + "/app:1"
	down.Close()
	e.policy = filepath.Join(t.TempDir(), "policy.yaml")
	rules := fmt.Sprintf("- {pattern: %q, validator: signed}\n- {pattern: %q, validator: signed}\n- {pattern: %q, validator: signed}\n",
		r.Host+"/signed/**", r.Host+"/unsigned/**", down.Host+"/**")
	if err := os.WriteFile(e.policy, []byte(testutil.Policy(k.PEM, rules)), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs signet check with stdin and returns the exit code and output.
func (e *checkEnv) run(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errs bytes.Buffer
	root := newRoot(&out, &errs)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"check", "--policy", e.policy}, args...))
	err := root.Execute()
	code = ExitAllowed
	if err != nil {
		code = ExitUsage
		if ee, ok := err.(*exitError); ok {
			code = ee.code
			if ee.err != nil {
				fmt.Fprintln(&errs, "signet:", ee.err)
			}
		}
	}
	return code, out.String(), errs.String()
}

func pod(name, image string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  containers:\n  - name: c\n    image: %s\n", name, image)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheck: the text report and the exit codes, as signet verify's.
func TestCheck(t *testing.T) {
	e := newCheckEnv(t)
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", pod("a", e.signedTag))
	bad := writeFile(t, dir, "bad.yaml", pod("b", e.unsigned))
	down := writeFile(t, dir, "down.yaml", pod("c", e.unreach))
	text := writeFile(t, dir, "notes.yaml", "These are release notes.\n")
	broken := writeFile(t, dir, "broken.json", "{\"kind\": \"Pod\",\n \"spec\": {\"containers\": [}\n")
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  []string // regular expressions, one per stdout line
		err  string   // in stderr
	}{
		{"allowed", []string{"-f", good}, 0, []string{`^` + regexp.QuoteMeta(good) + `:8 Pod/a c ` + regexp.QuoteMeta(e.signedTag) + ` → allowed pinned ` + regexp.QuoteMeta(e.signed.DigestStr()) + `$`}, ""},
		{"denied", []string{"-f", good, "-f", bad}, 1, []string{"allowed pinned", `^` + regexp.QuoteMeta(bad) + `:8 Pod/b c ` + regexp.QuoteMeta(e.unsigned) + ` → denied: .*signature`}, ""},
		{"inconclusive", []string{"-f", good, "-f", down}, 3, []string{"allowed pinned", `Pod/c c .* → denied: inconclusive: `}, ""},
		{"denied and inconclusive", []string{"-f", down, "-f", bad}, 1, []string{"inconclusive", "denied: "}, ""},
		{"a file that is not YAML", []string{"-f", text, "-f", good}, 2, []string{"allowed pinned"}, "notes.yaml:1: not a YAML or JSON object"},
		{"a file that is not JSON", []string{"-f", good, "-f", broken}, 2, []string{"allowed pinned"}, "broken.json:1: not valid YAML or JSON: did not find expected node content"},
		{"no file", []string{}, 2, nil, "-f is required"},
		{"missing file", []string{"-f", filepath.Join(dir, "missing.yaml")}, 2, nil, "no such file"},
		{"stdin twice", []string{"-f", "-", "-f", "-"}, 2, nil, "more than once"},
		{"bad output", []string{"-f", good, "-o", "xml"}, 2, nil, "--output must be text, json, sarif or junit"},
		{"write without pin", []string{"-f", good, "--write"}, 2, nil, "--write needs --pin"},
		{"pin several files to stdout", []string{"-f", good, "-f", bad, "--pin"}, 2, nil, "add --write"},
		{"write stdin", []string{"-f", "-", "--pin", "--write"}, 2, nil, "cannot rewrite standard input"},
		{"bad pin format", []string{"-f", good, "--pin", "--pin-format", "short"}, 2, nil, "--pin-format must be"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := e.run("", tc.args...)
			lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if stdout == "" {
				lines = nil
			}
			ok := code == tc.code && len(lines) == len(tc.out) && strings.Contains(stderr, tc.err)
			for i := 0; ok && i < len(lines); i++ {
				ok = regexp.MustCompile(tc.out[i]).MatchString(lines[i])
			}
			if !ok {
				t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s\nwant exit %d, lines %q, stderr with %q", code, stdout, stderr, tc.code, tc.out, tc.err)
			}
		})
	}
}

// TestCheckOneVerificationPerImage: 500 manifests sharing 20 images cost
// 20 verifications, counted at the registry: one tag look-up and one
// signature manifest per image, whatever namespaces the objects name (a
// policy file has no namespaced policies).
func TestCheckOneVerificationPerImage(t *testing.T) {
	e := newCheckEnv(t)
	k := testutil.NewKey(t)
	var images []string
	rules := fmt.Sprintf("- {pattern: %q, validator: signed}\n", e.reg.Host+"/many/**")
	for i := range 20 {
		d := e.reg.PushImage(t, fmt.Sprintf("many/app%d:v1", i))
		testutil.SignLegacy(t, d, k)
		images = append(images, fmt.Sprintf("%s/many/app%d:v1", e.reg.Host, i))
	}
	os.WriteFile(e.policy, []byte(testutil.Policy(k.PEM, rules)), 0o600)
	dir := t.TempDir()
	for i := range 500 {
		writeFile(t, dir, fmt.Sprintf("team%d/deploy%03d.yaml", i%7, i), fmt.Sprintf(
			"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d%d, namespace: team%d}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: a, image: %s}\n      initContainers:\n      - {name: b, image: %s}\n",
			i, i%3, images[i%20], images[(i+7)%20]))
	}
	e.reg.Reset()
	code, stdout, stderr := e.run("", "-f", dir, "-o", "json")
	var r check.Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil || code != 0 || len(r.Results) != 1000 {
		t.Fatalf("exit %d, %d results, %v; stderr %s", code, len(r.Results), err, stderr)
	}
	tags, sigs := 0, 0
	for _, p := range e.reg.Paths() {
		switch {
		case strings.Contains(p, "/manifests/v1"):
			tags++
		case strings.Contains(p, "/manifests/sha256-"):
			sigs++
		}
	}
	t.Logf("%d registry requests: %d tag look-ups, %d signature manifests", e.reg.Requests(), tags, sigs)
	if tags != 20 || sigs != 20 {
		t.Errorf("%d tag look-ups and %d signature manifests for 20 images in 500 manifests, want 20 each", tags, sigs)
	}
	// Files are read in lexical order, each one's images in file order.
	if r.Results[0].File != filepath.Join(dir, "team0/deploy000.yaml") || r.Results[0].Container != "a" || r.Results[1].Container != "b" {
		t.Errorf("first results %+v, %+v", r.Results[0].Finding, r.Results[1].Finding)
	}
}

// TestCheckPinWrite: --pin --write rewrites only the lines of the allowed
// images, in every kind of place (List, CronJob, initContainers,
// ephemeralContainers, image volumes), keeps comments, quotes, file mode
// and denied images; the second run changes no byte.
func TestCheckPinWrite(t *testing.T) {
	e := newCheckEnv(t)
	dir := t.TempDir()
	content := `# The shop, as deployed.
apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: shop}   # the front end
  spec:
    template:
      spec:
        initContainers:
        - name: migrate
          image: "SIGNED"
        containers:
        - name: app
          image: SIGNED # pinned by signet
        - name: legacy
          image: 'UNSIGNED'
        volumes:
        - name: assets
          image: {reference: SIGNED2}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: job, image: SIGNED2}]
---
kind: Pod
metadata: {name: debug}
spec:
  containers: [{name: main, image: SIGNED}]
  ephemeralContainers: [{name: shell, image: SIGNED2}]
`
	content = strings.NewReplacer("UNSIGNED", e.unsigned, "SIGNED2", e.signed2Tag, "SIGNED", e.signedTag).Replace(content)
	p := writeFile(t, dir, "shop.yaml", strings.ReplaceAll(content, "\n", "\r\n"))
	os.Chmod(p, 0o640)

	code, stdout, stderr := e.run("", "-f", dir, "--pin", "--write")
	if code != 1 || strings.Count(stdout, "→ allowed pinned") != 6 || strings.Count(stdout, "→ denied") != 1 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	got, _ := os.ReadFile(p)
	want := strings.NewReplacer(e.signedTag, e.signedTag+"@"+e.signed.DigestStr(), e.signed2Tag, e.signed2Tag+"@"+e.signed2.DigestStr()).Replace(content)
	if string(got) != strings.ReplaceAll(want, "\n", "\r\n") {
		t.Fatalf("pinned file:\n%s\nwant:\n%s", got, want)
	}
	before, after := strings.Split(content, "\n"), strings.Split(strings.ReplaceAll(string(got), "\r\n", "\n"), "\n")
	changed := 0
	for i := range before {
		if before[i] != after[i] {
			changed++
			if !strings.Contains(before[i], "image") {
				t.Errorf("line %d changed, and holds no image: %q → %q", i+1, before[i], after[i])
			}
		}
	}
	if changed != 6 {
		t.Errorf("%d lines changed, want the 6 of the allowed images", changed)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v after --write, want 0640", st.Mode().Perm())
	}
	// Pinned images are verified by their digest and written as they are.
	code, stdout, _ = e.run("", "-f", p, "--pin", "--write")
	again, _ := os.ReadFile(p)
	if code != 1 || string(again) != string(got) || strings.Count(stdout, "→ allowed pinned") != 6 {
		t.Errorf("second run: exit %d, changed the file: %v\n%s", code, string(again) != string(got), stdout)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("the directory holds %d files after --write, want 1 (no temporary file left)", len(entries))
	}
}

// TestCheckPinStdout: helm template | signet check --pin -f -: the pinned
// documents on stdout, the report on stderr, in either format.
func TestCheckPinStdout(t *testing.T) {
	e := newCheckEnv(t)
	in := "---\n" + pod("a", e.signedTag) + "---\n" + pod("b", e.unsigned)
	repo := strings.TrimSuffix(e.signedTag, ":1")
	for _, tc := range []struct {
		format, image string
	}{
		{"tag-digest", e.signedTag + "@" + e.signed.DigestStr()},
		{"digest", repo + "@" + e.signed.DigestStr()},
	} {
		code, stdout, stderr := e.run(in, "-f", "-", "--pin", "--pin-format", tc.format)
		want := strings.Replace(in, "image: "+e.signedTag, "image: "+tc.image, 1)
		if code != 1 || stdout != want || !strings.Contains(stderr, "-:9 Pod/a c "+e.signedTag+" → allowed pinned") || !strings.Contains(stderr, "→ denied") {
			t.Errorf("--pin-format %s: exit %d\nstdout:\n%s\nstderr:\n%s\nwant stdout:\n%s", tc.format, code, stdout, stderr, want)
		}
	}
}

// TestCheckDeclaredKinds: the kinds the policy declares (spec.resources)
// are read as the webhook reads them — pod templates and expressions —
// matched on group and version too; other custom kinds are skipped.
func TestCheckDeclaredKinds(t *testing.T) {
	e := newCheckEnv(t)
	p, _ := os.ReadFile(e.policy)
	os.WriteFile(e.policy, append(p, []byte(`resources:
- group: argoproj.io
  version: v1alpha1
  kind: Rollout
  images:
  - podTemplate: /spec/template
- group: tekton.dev
  version: v1
  kind: Task
  images:
  - expression: >-
      object.spec.steps.transformList(i, s, has(s.image), "/spec/steps/" + string(i) + "/image")
`)...), 0o600)
	dir := t.TempDir()
	writeFile(t, dir, "custom.yaml", `apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: canary}
spec:
  template:
    spec:
      containers: [{name: app, image: `+e.signedTag+`}]
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: build}
spec:
  steps:
  - {name: compile, image: `+e.unsigned+`}
  - {name: script-only}
---
apiVersion: argoproj.io/v1beta9
kind: Rollout
metadata: {name: other-version}
spec: {template: {spec: {containers: [{image: skipped}]}}}
`)
	code, stdout, stderr := e.run("", "-f", dir)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 1 || len(lines) != 2 || !strings.Contains(lines[0], ":7 Rollout/canary app "+e.signedTag+" → allowed pinned") ||
		!strings.Contains(lines[1], ":14 Task/build /spec/steps/0/image "+e.unsigned+" → denied") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestCheckWalk: a directory is walked in lexical order for *.yaml, *.yml
// and *.json; other files, .git and symbolic links (to files or
// directories) are not read.
func TestCheckWalk(t *testing.T) {
	e := newCheckEnv(t)
	dir, outside := t.TempDir(), t.TempDir()
	writeFile(t, dir, "b/two.yml", pod("two", e.signedTag))
	writeFile(t, dir, "a.json", `{"kind": "Pod", "metadata": {"name": "one"}, "spec": {"containers": [{"name": "c", "image": "`+e.signedTag+`"}]}}`)
	writeFile(t, dir, "c/three.YAML", pod("three", e.signedTag))
	writeFile(t, dir, "notes.txt", "not: [read")
	writeFile(t, dir, ".git/config.yaml", pod("git", e.unsigned))
	writeFile(t, outside, "secret.yaml", pod("outside", e.unsigned))
	os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(dir, "link.yaml"))
	os.Symlink(outside, filepath.Join(dir, "linkdir"))
	code, stdout, stderr := e.run("", "-f", dir)
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		names = append(names, strings.Fields(l)[1])
	}
	if code != 0 || strings.Join(names, " ") != "Pod/one Pod/two Pod/three" {
		t.Errorf("exit %d, objects %v, want Pod/one Pod/two Pod/three\n%s\n%s", code, names, stdout, stderr)
	}
	// A link given by name is read.
	if code, _, _ := e.run("", "-f", filepath.Join(dir, "link.yaml")); code != 1 {
		t.Errorf("-f LINK: exit %d, want 1 (the unsigned image it points to)", code)
	}
}

// TestCheckPinMutateFalse: an image whose rule says with.mutate: false is
// allowed and left as written, as the webhook leaves it.
func TestCheckPinMutateFalse(t *testing.T) {
	e := newCheckEnv(t)
	p, _ := os.ReadFile(e.policy)
	rule := fmt.Sprintf("- {pattern: %q, validator: signed, with: {mutate: false}}\n", e.signed2Tag)
	os.WriteFile(e.policy, append(p, rule...), 0o600)
	in := pod("a", e.signed2Tag)
	code, stdout, stderr := e.run(in, "-f", "-", "--pin")
	if code != 0 || stdout != in || !strings.Contains(stderr, "→ allowed") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// TestWithin: what --write may rewrite besides an input: files under the
// input's directory or the working directory, links resolved.
func TestWithin(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	in := writeFile(t, dir, "compose.yaml", "")
	base := writeFile(t, dir, "common/base.yaml", "")
	far := writeFile(t, outside, "base.yaml", "")
	os.Symlink(far, filepath.Join(dir, "link.yaml"))
	for _, tc := range []struct {
		path string
		want bool
	}{
		{base, true},
		{far, false},
		{filepath.Join(dir, "link.yaml"), false},
		{filepath.Join(dir, "missing.yaml"), false},
	} {
		if got := within(tc.path, in); got != tc.want {
			t.Errorf("within(%s) = %v, want %v", tc.path, got, tc.want)
		}
	}
}

package check

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-dev/signet/test/harness"
)

// TestHelmTemplate: helm template of signet's own chart, piped to signet
// check: every image the chart renders is found and decided, and --pin
// writes the same documents with only the image lines pinned, which check
// again as allowed and pin to themselves.
func TestHelmTemplate(t *testing.T) {
	e := newEnv(t)
	signed := harness.Push(t, e.host, "signed/signet:v1")
	e.sign(signed)
	harness.Push(t, e.host, "unsigned/signet:v1")
	chart := filepath.Join(harness.Root, "deploy", "helm", "signet")
	for _, tc := range []struct {
		repo string
		code int
	}{
		{e.host + "/signed/signet", 0},
		{e.host + "/unsigned/signet", 1},
	} {
		t.Run(tc.repo, func(t *testing.T) {
			manifests := run(t, "helm", "template", "rel", chart, "--namespace", "signet-system", "--kube-version", "1.34.0",
				"--set", "image.repository="+tc.repo, "--set", "image.tag=v1")
			code, stdout, stderr := e.check(t, manifests, "--output", "json")
			r := report(t, stdout)
			if code != tc.code || len(r.Results) == 0 || len(r.Errors) > 0 {
				t.Fatalf("exit %d, %d images, errors %v; want %d\n%s", code, len(r.Results), r.Errors, tc.code, stderr)
			}
			kinds := map[string]bool{}
			for _, res := range r.Results {
				kinds[res.Kind] = true
				if res.Image != tc.repo+":v1" || res.Line == 0 || res.Decision.Allowed != (tc.code == 0) {
					t.Errorf("%+v: %s allowed %v", res.Finding, res.Image, res.Decision.Allowed)
				}
			}
			if !kinds["Deployment"] {
				t.Errorf("no Deployment among the chart's images: %v", kinds)
			}
			t.Logf("%d images in %d bytes of helm template output: %v", len(r.Results), len(manifests), kinds)
			if tc.code != 0 {
				return
			}
			pinned := pin(t, e, manifests, tc.repo+":v1", tc.repo+":v1@"+signed.DigestStr(), len(r.Results))
			if again := pin(t, e, pinned, "", "", 0); string(again) != string(pinned) {
				t.Errorf("pinning the pinned output changed it")
			}
		})
	}
}

// TestKustomizeBuild: kustomize build of a base whose images a
// kustomization renames, piped to signet check.
func TestKustomizeBuild(t *testing.T) {
	e := newEnv(t)
	web := harness.Push(t, e.host, "signed/web:2.0")
	e.sign(web)
	job := harness.Push(t, e.host, "signed/job:7")
	e.sign(job)
	harness.Push(t, e.host, "unsigned/tool:1")
	dir := t.TempDir()
	files := map[string]string{
		"deployment.yaml": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      initContainers:\n      - name: init\n        image: job\n      containers:\n      - name: web\n        image: web # the front end\n",
		"cronjob.yaml":    "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: nightly\nspec:\n  schedule: \"0 3 * * *\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n          - name: job\n            image: job\n",
		"service.yaml":    "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports: [{port: 80}]\n",
		"kustomization.yaml": "namespace: shop\nresources: [deployment.yaml, cronjob.yaml, service.yaml]\nimages:\n" +
			"- {name: web, newName: " + e.host + "/signed/web, newTag: \"2.0\"}\n- {name: job, newName: " + e.host + "/signed/job, newTag: \"7\"}\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	manifests := run(t, "kustomize", "build", dir)
	code, stdout, stderr := e.check(t, manifests, "--output", "json")
	r := report(t, stdout)
	var got []string
	for _, res := range r.Results {
		got = append(got, res.Kind+"/"+res.Name+" "+res.Namespace+" "+res.Section+" "+res.Image)
	}
	want := []string{
		// kustomize writes Deployments first, fields sorted.
		"Deployment/web shop containers " + e.host + "/signed/web:2.0",
		"Deployment/web shop initContainers " + e.host + "/signed/job:7",
		"CronJob/nightly shop containers " + e.host + "/signed/job:7",
	}
	if code != 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("exit %d\n%s\nwant exit 0 and\n%s\n%s", code, strings.Join(got, "\n"), strings.Join(want, "\n"), stderr)
	}
	pinned := pin(t, e, manifests, e.host+"/signed/job:7", e.host+"/signed/job:7@"+job.DigestStr(), 2)
	if !strings.Contains(string(pinned), e.host+"/signed/web:2.0@"+web.DigestStr()) {
		t.Errorf("the web image is not pinned:\n%s", pinned)
	}

	// An unsigned image in the overlay: denied, and left as it is.
	os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(files["kustomization.yaml"]+"- {name: tool, newName: "+e.host+"/unsigned/tool, newTag: \"1\"}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "deployment.yaml"), []byte(strings.Replace(files["deployment.yaml"], "      - name: init\n", "      - name: tool\n        image: tool\n      - name: init\n", 1)), 0o644)
	manifests = run(t, "kustomize", "build", dir)
	code, stdout, stderr = e.check(t, manifests, "--pin")
	if code != 1 || !strings.Contains(stdout, "image: "+e.host+"/unsigned/tool:1\n") || !strings.Contains(stderr, "unsigned/tool:1 → denied: ") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// pin runs signet check --pin on manifests and checks that exactly n lines
// changed, each from one holding from to one holding to; it returns the
// pinned documents.
func pin(t *testing.T, e *env, manifests []byte, from, to string, n int) []byte {
	t.Helper()
	code, stdout, stderr := e.check(t, manifests, "--pin")
	if code != 0 {
		t.Fatalf("--pin: exit %d\n%s", code, stderr)
	}
	before, after := strings.Split(string(manifests), "\n"), strings.Split(stdout, "\n")
	if len(before) != len(after) {
		t.Fatalf("--pin wrote %d lines, not %d", len(after), len(before))
	}
	changed := 0
	for i := range before {
		if before[i] != after[i] {
			changed++
			if from != "" && strings.Replace(before[i], from, to, 1) != after[i] && !strings.Contains(after[i], "@sha256:") {
				t.Errorf("line %d: %q became %q", i+1, before[i], after[i])
			}
		}
	}
	if from != "" && changed < n || from == "" && changed != 0 {
		t.Errorf("%d lines changed, want %d", changed, n)
	}
	return []byte(stdout)
}

// TestPinWriteGitDiff: signet check --pin --write in a Git checkout of
// hand-written manifests (comments, quotes, CRLF, several documents):
// git diff shows the allowed image lines and nothing else, the denied
// image stays, and a second run leaves the tree clean.
func TestPinWriteGitDiff(t *testing.T) {
	e := newEnv(t)
	web := harness.Push(t, e.host, "signed/web:1")
	e.sign(web)
	harness.Push(t, e.host, "unsigned/tool:1")
	dir := t.TempDir()
	files := map[string]string{
		"deploy/web.yaml": "# The web tier.\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web   # keep\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: \"" + e.host + "/signed/web:1\"  # quoted\n      - name: tool\n        image: " + e.host + "/unsigned/tool:1\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n",
		"deploy/job.yml":  "kind: Job\r\nmetadata: {name: once}\r\nspec:\r\n  template:\r\n    spec:\r\n      containers: [{name: once, image: '" + e.host + "/signed/web:1'}]\r\n",
		"deploy/pod.json": "{\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"p\"},\n  \"spec\": {\"containers\": [{\"name\": \"c\", \"image\": \"" + e.host + "/signed/web:1\"}]}\n}\n",
	}
	for name, content := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	gitRun := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "core.autocrlf=false", "-c", "user.name=t", "-c", "user.email=t@example.invalid"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	gitRun("init", "-q")
	gitRun("add", ".")
	gitRun("commit", "-qm", "manifests")

	code, stdout, stderr := e.checkFiles(t, "-f", filepath.Join(dir, "deploy"), "--pin", "--write")
	if code != 1 || strings.Count(stdout, "→ allowed pinned") != 3 || strings.Count(stdout, "→ denied") != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	var changed []string
	for _, l := range strings.Split(gitRun("diff", "-U0", "--no-color"), "\n") {
		if (strings.HasPrefix(l, "+") || strings.HasPrefix(l, "-")) && !strings.HasPrefix(l, "+++") && !strings.HasPrefix(l, "---") {
			changed = append(changed, l)
		}
	}
	pinned := e.host + "/signed/web:1@" + web.DigestStr()
	want := []string{
		`-      containers: [{name: once, image: '` + e.host + `/signed/web:1'}]` + "\r",
		`+      containers: [{name: once, image: '` + pinned + `'}]` + "\r",
		`-  "spec": {"containers": [{"name": "c", "image": "` + e.host + `/signed/web:1"}]}`,
		`+  "spec": {"containers": [{"name": "c", "image": "` + pinned + `"}]}`,
		`-        image: "` + e.host + `/signed/web:1"  # quoted`,
		`+        image: "` + pinned + `"  # quoted`,
	}
	if strings.Join(changed, "\n") != strings.Join(want, "\n") {
		t.Errorf("git diff:\n%s\nwant:\n%s", strings.Join(changed, "\n"), strings.Join(want, "\n"))
	}
	gitRun("commit", "-qam", "pinned")
	if code, _, stderr := e.checkFiles(t, "-f", filepath.Join(dir, "deploy"), "--pin", "--write"); code != 1 {
		t.Fatalf("second run: exit %d\n%s", code, stderr)
	}
	if st := gitRun("status", "--porcelain"); st != "" {
		t.Errorf("the second --pin --write changed the tree:\n%s", st)
	}
}

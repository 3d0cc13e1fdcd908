package cli

import (
	"os"
	"strings"
	"testing"
)

// TestCheckCompose: Compose files go through signet check like manifests —
// interpolation and extends resolved, allowed images pinned in the file
// that writes them, a built service checked but left as written, a base
// file two inputs extend written once and the rest on the next run.
func TestCheckCompose(t *testing.T) {
	e := newCheckEnv(t)
	dir := t.TempDir()
	base := writeFile(t, dir, "base.yaml", "services:\n  db:\n    # the database\n    image: \""+e.signed2Tag+"\"\n  cache:\n    image: "+e.signedTag+"\n")
	app := writeFile(t, dir, "compose.yaml", "services:\n  web:\n    image: ${REG}/signed/app:${TAG:-1}\n  built:\n    build: .\n    image: "+e.signedTag+"\n  db:\n    extends: {file: base.yaml, service: db}\n")
	other := writeFile(t, dir, "other.yaml", "services:\n  cache:\n    extends: {file: base.yaml, service: cache}\n")
	t.Setenv("REG", e.reg.Host)

	code, out, errs := e.run("", "-f", app)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		app + ":3 Service/web - " + e.signedTag + " → allowed pinned " + e.signed.DigestStr(),
		"Service/built - " + e.signedTag + " → allowed " + e.signed.DigestStr() + " (not pinned: ",
		base + ":4 Service/db - " + e.signed2Tag + " → allowed pinned",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}

	code, out, errs = e.run("", "-f", app, "-f", other, "--pin", "--write")
	if code != ExitUsage || !strings.Contains(errs, "both rewrite it") {
		t.Fatalf("two inputs rewriting base.yaml: exit %d, want 2 and a note\n%s%s", code, out, errs)
	}
	if code, out, errs = e.run("", "-f", app, "-f", other, "--pin", "--write"); code != 0 {
		t.Fatalf("second run: exit %d\n%s%s", code, out, errs)
	}
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got, want := read(base), "services:\n  db:\n    # the database\n    image: \""+e.signed2Tag+"@"+e.signed2.DigestStr()+"\"\n  cache:\n    image: "+e.signedTag+"@"+e.signed.DigestStr()+"\n"; got != want {
		t.Errorf("base.yaml:\n%s\nwant\n%s", got, want)
	}
	if got := read(app); !strings.Contains(got, "image: "+e.signedTag+"@"+e.signed.DigestStr()+"\n  built:\n    build: .\n    image: "+e.signedTag+"\n") {
		t.Errorf("compose.yaml: web pinned (its variables replaced by what was verified), built left as written:\n%s", got)
	}
	before := read(app) + read(base) + read(other)
	if code, out, errs = e.run("", "-f", dir, "--pin", "--write"); code != 0 {
		t.Fatalf("third run, over the directory: exit %d\n%s%s", code, out, errs)
	}
	if after := read(app) + read(base) + read(other); after != before {
		t.Errorf("pinning again changed the files:\n%s", after)
	}
}

package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/signet-dev/signet/internal/check"
	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/version"
)

// pinRef is what an allowed image is rewritten to: the reference as
// written (its spelling of the repository kept), any digest replaced by
// the one verified, and with --pin-format digest its tag dropped. An image
// written repo:tag@sha256:… and verified by that digest is rewritten to
// itself, so pinning twice changes nothing.
func pinRef(image, digest, format string) string {
	if format == pinDigest {
		if r, err := imageref.Parse(image); err == nil {
			return r.PinnedAsWritten(digest)
		}
	}
	if i := strings.IndexByte(image, '@'); i >= 0 {
		image = image[:i]
	}
	return image + "@" + digest
}

// writePinned rewrites each file with its allowed images pinned: to w
// (one file), or with --write in place. A file that cannot be rewritten is
// reported and left as it is.
func (f *checkFlags) writePinned(files []check.File, data map[string][]byte, report *check.Report, w io.Writer) error {
	k := 0 // report.Results holds each file's findings in turn
	// written holds what this run wrote to each path, and through which
	// input: two Compose files extending one base file each rewrite it
	// from its content before this run, so the second would undo the
	// first's pins.
	type write struct {
		by      string // the input whose pins were written
		content []byte
	}
	written := map[string]write{}
	for _, file := range files {
		refs := map[int]string{}
		for i := range file.Findings() {
			d := report.Results[k+i].Decision
			// As the webhook pins: allowed, digest known, and no rule that
			// took part asked to keep the image as written (with.mutate).
			if d.Allowed && d.Digest != "" && d.Pinned != "" && d.Mutate {
				refs[i] = pinRef(report.Results[k+i].Image, d.Digest, f.pinFormat)
			}
		}
		k += len(file.Findings())
		out, err := file.Rewrite(refs)
		if err != nil {
			report.Errors = append(report.Errors, check.FileError{File: file.Name(), Err: fmt.Sprintf("pinning: %v", err)})
			continue
		}
		if !f.write {
			for name := range out {
				if name != file.Name() {
					report.Errors = append(report.Errors, check.FileError{File: file.Name(), Err: fmt.Sprintf("pinning also rewrites %s: use --write", name)})
					return nil
				}
			}
			content, ok := out[file.Name()]
			if !ok {
				content = data[file.Name()]
			}
			if _, err := w.Write(content); err != nil {
				return err
			}
			continue
		}
		names := make([]string, 0, len(out))
		for name := range out {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			if name != file.Name() && !within(name, file.Name()) {
				// A file the input names (a Compose extends) out of the
				// input's own tree: the input's author does not choose
				// what this run writes.
				report.Errors = append(report.Errors, check.FileError{File: name, Err: fmt.Sprintf("pinning: %s names it, but it is neither under %s's directory nor under the working directory: not written", file.Name(), file.Name())})
				continue
			}
			if w, ok := written[name]; ok {
				if !bytes.Equal(w.content, out[name]) {
					report.Errors = append(report.Errors, check.FileError{File: name, Err: fmt.Sprintf("pinning: %s and %s both rewrite it; %s's pins were written, run signet check --pin --write again to write the rest", w.by, file.Name(), w.by)})
				}
				continue
			}
			if err := writeAtomic(name, out[name]); err != nil {
				report.Errors = append(report.Errors, check.FileError{File: name, Err: fmt.Sprintf("pinning: %v", err)})
				continue
			}
			written[name] = write{file.Name(), out[name]}
		}
	}
	return nil
}

// writeAtomic replaces the file at path (the file a symbolic link points
// to, for a link) with data: written to a temporary file beside it with
// the same permissions, then renamed over it, so that a reader never sees
// half a file.
func writeAtomic(path string, data []byte) error {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	st, err := os.Stat(real)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(real), "."+filepath.Base(real)+".signet-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is none
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), real)
}

// writeReport writes the report in the --output format to w; file errors
// also go to stderr, one line each, whatever the format.
func writeReport(w, stderr io.Writer, format string, r *check.Report) error {
	for _, e := range r.Errors {
		fmt.Fprintf(stderr, "signet: %s: %s\n", location(e.File, e.Line), e.Err)
	}
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "sarif":
		return check.WriteSARIF(w, r, version.Version)
	case "junit":
		return check.WriteJUnit(w, r)
	}
	for _, res := range r.Results {
		d := res.Decision
		verdict := "allowed"
		switch {
		case d.Allowed && d.Digest != "" && res.NoPin != "":
			verdict += " " + d.Digest + " (not pinned: " + res.NoPin + ")"
		case d.Allowed && d.Digest != "":
			verdict += " pinned " + d.Digest
		case !d.Allowed && d.Outcome == verify.Inconclusive:
			verdict = "denied: inconclusive: " + d.Reason
		case !d.Allowed:
			verdict = "denied: " + d.Reason
		}
		image := res.Image
		if image == "" {
			image = `""`
		}
		fmt.Fprintf(w, "%s %s/%s %s %s → %s\n", location(res.File, res.Line), res.Kind, res.Name, orDash(res.Container), image, verdict)
	}
	return nil
}

// location is FILE:LINE, or FILE when the line is unknown.
func location(file string, line int) string {
	if line > 0 {
		return file + ":" + strconv.Itoa(line)
	}
	return file
}

// within reports whether path is under the directory of input or under the
// working directory, symbolic links resolved.
func within(path, input string) bool {
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false
	}
	p, _ = filepath.Abs(p)
	var roots []string
	if in, err := filepath.EvalSymlinks(input); err == nil {
		in, _ = filepath.Abs(in)
		roots = append(roots, filepath.Dir(in))
	}
	if wd, err := os.Getwd(); err == nil {
		if wd, err := filepath.EvalSymlinks(wd); err == nil {
			roots = append(roots, wd)
		}
	}
	for _, r := range roots {
		if rel, err := filepath.Rel(r, p); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}

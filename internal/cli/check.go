package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-dev/signet/internal/check"
	"github.com/signet-dev/signet/internal/compose"
	"github.com/signet-dev/signet/internal/manifest"
	"github.com/signet-dev/signet/internal/policy"
)

// The bounds of one signet check run, over all its files (each file is
// bounded by package manifest's limits).
const (
	// maxCheckFiles bounds the files a run reads (directories walked).
	maxCheckFiles = 10_000
	// maxCheckBytes bounds the bytes read from all files together: they
	// are kept until the end, for --pin.
	maxCheckBytes = 256 << 20
	// maxCheckImages bounds the images found in all files together, and so
	// the distinct images decided.
	maxCheckImages = 100_000
)

// The --pin-format values.
const (
	pinTagDigest = "tag-digest"
	pinDigest    = "digest"
)

type checkFlags struct {
	verifyFlags
	files     []string
	envFiles  []string
	profiles  []string
	pin       bool
	pinFormat string
	write     bool
}

func newCheck(stdout, stderr io.Writer) *cobra.Command {
	f := &checkFlags{}
	cmd := &cobra.Command{
		Use:   "check --policy FILE -f PATH [-f PATH...] [--output text|json|sarif|junit] [--pin [--write]]",
		Short: "Decide the images of Kubernetes manifests and Compose files before they are deployed",
		Long: `check finds every image in Kubernetes manifests and docker-compose files —
as the admission webhook finds them in the objects it is sent — and decides
each with the policy, as signet verify does.

PATH is a file, a directory (walked recursively for *.yaml, *.yml and
*.json; symbolic links and .git are not followed), or "-" for standard
input:

  helm template my-release ./chart | signet check --policy policy.yaml -f -

A file whose top level has a services key is a Compose file, read as
docker compose config reads it (--env-file, --profile); any other is read
as Kubernetes manifests: every document, List items, the nine workload
kinds and the kinds the policy declares (spec.resources). Objects of other
kinds are skipped. An object is decided for its own metadata.namespace, or
--namespace.

Each distinct image is decided once, however many objects use it.

--pin rewrites every allowed image to the digest that was verified
(repo:tag@sha256:..., or with --pin-format digest repo@sha256:...) and
writes the pinned file to stdout (one input file only; the report goes to
stderr), or with --write back in place. Nothing but the images' values
changes; denied images are left as they are and reported. Pinning a pinned
file changes nothing.

Exit codes: 0 every image allowed; 1 any image denied; 2 usage error,
invalid policy, or a file that cannot be read (the other files are still
reported); 3 any image inconclusive (registry unreachable, timeout) and
none denied.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd.Context(), f, cmd.InOrStdin(), stdout, stderr)
		},
	}
	f.addPolicyFlags(cmd)
	cmd.Flags().Lookup("namespace").Usage = "the namespace of objects that name none, whose ImagePolicies take part with --policy-source=cluster (with a policy file, also signet's namespace, where validators' Secrets live)"
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format: text, json, sarif (SARIF 2.1.0) or junit (JUnit XML)")
	cmd.Flags().StringArrayVarP(&f.files, "filename", "f", nil, "a manifest or Compose file, a directory of them, or - for stdin (repeatable)")
	cmd.Flags().StringArrayVar(&f.envFiles, "env-file", nil, "Compose: an environment file, as docker compose --env-file (repeatable)")
	cmd.Flags().StringArrayVar(&f.profiles, "profile", nil, "Compose: an active profile, as docker compose --profile (repeatable)")
	cmd.Flags().BoolVar(&f.pin, "pin", false, "write the files with every allowed image pinned to its verified digest")
	cmd.Flags().StringVar(&f.pinFormat, "pin-format", pinTagDigest, "with --pin: tag-digest (repo:tag@sha256:...) or digest (repo@sha256:...)")
	cmd.Flags().BoolVar(&f.write, "write", false, "with --pin: rewrite the files in place instead of writing to stdout")
	return cmd
}

// input is one file read.
type input struct {
	name string // as given, or found in a directory
	data []byte
}

func (f *checkFlags) check(stdin bool) error {
	switch {
	case len(f.files) == 0:
		return usageError("-f is required: a file, a directory or - for stdin")
	case !slices.Contains([]string{"text", "json", "sarif", "junit"}, f.output):
		return usageError("--output must be text, json, sarif or junit, got %q", f.output)
	case f.timeout <= 0:
		return usageError("--timeout must be positive, got %s", f.timeout)
	case f.pinFormat != pinTagDigest && f.pinFormat != pinDigest:
		return usageError("--pin-format must be tag-digest or digest, got %q", f.pinFormat)
	case f.write && !f.pin:
		return usageError("--write needs --pin")
	case f.write && stdin:
		return usageError("--write cannot rewrite standard input; without --write, --pin writes to stdout")
	}
	return f.checkSource()
}

func runCheck(ctx context.Context, f *checkFlags, stdin io.Reader, stdout, stderr io.Writer) error {
	if n := countOf(f.files, "-"); n > 1 {
		return usageError("-f - (standard input) given more than once")
	}
	if err := f.check(slices.Contains(f.files, "-")); err != nil {
		return err
	}
	inputs, report, err := readInputs(f.files, stdin)
	if err != nil {
		return err
	}
	if f.pin && !f.write && len(inputs)+len(report.Errors) > 1 {
		return usageError("--pin without --write writes one file to stdout, and %d were given: add --write to rewrite them in place", len(inputs)+len(report.Errors))
	}
	eng, namespace, err := f.engine(ctx, stderr)
	if err != nil {
		return err
	}
	files := f.parse(ctx, eng, inputs, &report)
	if f.source == sourceCluster {
		// The ImagePolicies of the objects' own namespaces take part too.
		var extra []string
		for _, r := range files {
			for _, fd := range r.Findings() {
				if fd.Namespace != "" && fd.Namespace != namespace && !slices.Contains(extra, fd.Namespace) {
					extra = append(extra, fd.Namespace)
				}
			}
		}
		if len(extra) > 0 {
			if eng, _, err = f.engine(ctx, io.Discard, extra...); err != nil {
				return err
			}
		}
	}
	// A policy file has no namespaced policies: one decision per image,
	// whatever the objects' namespaces.
	decide(ctx, eng, namespace, f.source == sourceCluster, f.timeout, files, &report)

	out, reportTo := stdout, stdout
	if f.pin && !f.write {
		reportTo = stderr
	}
	if f.pin {
		data := make(map[string][]byte, len(inputs))
		for _, in := range inputs {
			data[in.name] = in.data
		}
		if err := f.writePinned(files, data, &report, out); err != nil {
			return err
		}
	}
	if err := writeReport(reportTo, stderr, f.output, &report); err != nil {
		return err
	}
	if len(report.Errors) > 0 {
		return &exitError{code: ExitUsage}
	}
	ds := make([]policy.Decision, len(report.Results))
	for i, r := range report.Results {
		ds[i] = r.Decision
	}
	return &exitError{code: exitCode(ds)}
}

// readInputs reads every file the -f paths name, directories walked in
// lexical order. A path that cannot be read is a usage error; a file that
// cannot be read is reported in the Report and the others still read.
func readInputs(paths []string, stdin io.Reader) ([]input, check.Report, error) {
	var inputs []input
	report := check.Report{Results: []check.Result{}}
	total := 0
	add := func(name string, data []byte, err error) error {
		if err != nil {
			report.Errors = append(report.Errors, check.FileError{File: name, Err: err.Error()})
			return nil
		}
		if total += len(data); total > maxCheckBytes {
			return usageError("the files hold more than %d MiB together: check them in parts", maxCheckBytes>>20)
		}
		if len(inputs)+len(report.Errors) > maxCheckFiles {
			return usageError("more than %d files: check them in parts", maxCheckFiles)
		}
		inputs = append(inputs, input{name, data})
		return nil
	}
	for _, p := range paths {
		if p == "-" {
			data, err := readInput(p, stdin, manifest.MaxFileBytes)
			if err := add(p, data, err); err != nil {
				return nil, report, err
			}
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return nil, report, usageError("-f %s: %v", p, err)
		}
		if !st.IsDir() {
			data, err := readInput(p, nil, manifest.MaxFileBytes)
			if err := add(p, data, err); err != nil {
				return nil, report, err
			}
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				return add(path, nil, err)
			case d.IsDir() && d.Name() == ".git":
				return filepath.SkipDir
			case d.IsDir(), d.Type()&fs.ModeSymlink != 0, !d.Type().IsRegular():
				return nil // directories are walked; links are not followed
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".yaml", ".yml", ".json":
				data, err := readInput(path, nil, manifest.MaxFileBytes)
				return add(path, data, err)
			}
			return nil
		})
		if err != nil {
			return nil, report, err
		}
	}
	return inputs, report, nil
}

// parse reads each input as a Compose file or as manifests; a file that
// does not parse is reported and left out. Each file's images count toward
// maxCheckImages.
func (f *checkFlags) parse(ctx context.Context, eng *policy.Engine, inputs []input, report *check.Report) []check.File {
	var files []check.File
	images := 0
	for _, in := range inputs {
		var file check.File
		var err error
		if compose.Detect(in.data) {
			file, err = compose.Load(in.name, in.data, compose.Options{EnvFiles: f.envFiles, Environ: os.Environ(), Profiles: f.profiles})
		} else {
			var m *manifest.File
			m, err = manifest.Parse(ctx, in.name, in.data, manifest.Options{Resource: eng.Resource})
			file = m
		}
		if err == nil {
			if images += len(file.Findings()); images > maxCheckImages {
				err = fmt.Errorf("more than %d images in the files together: check them in parts", maxCheckImages)
			}
		}
		if err != nil {
			fe := check.FileError{File: in.name, Err: err.Error()}
			if me, ok := errors.AsType[*manifest.Error](err); ok {
				fe.Line, fe.Err = me.Line, me.Err.Error()
			}
			report.Errors = append(report.Errors, fe)
			continue
		}
		files = append(files, file)
	}
	return files
}

// decide decides each distinct (namespace, image) of the files once,
// concurrently, and adds a Result per finding to the report. An object is
// decided for its own namespace, or namespace; without namespaced
// policies, for none.
func decide(ctx context.Context, eng *policy.Engine, namespace string, namespaced bool, timeout time.Duration, files []check.File, report *check.Report) {
	key := func(fd check.Finding) nsImage {
		switch {
		case !namespaced:
			return nsImage{"", fd.Image}
		case fd.Namespace != "":
			return nsImage{fd.Namespace, fd.Image}
		}
		return nsImage{namespace, fd.Image}
	}
	index := map[nsImage]int{}
	var reqs []nsImage
	for _, file := range files {
		for _, fd := range file.Findings() {
			k := key(fd)
			if _, ok := index[k]; !ok {
				index[k] = len(reqs)
				reqs = append(reqs, k)
			}
		}
	}
	ds := evaluateEach(ctx, eng, reqs, timeout)
	for _, file := range files {
		for _, fd := range file.Findings() {
			report.Results = append(report.Results, check.Result{Finding: fd, Decision: ds[index[key(fd)]]})
		}
	}
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

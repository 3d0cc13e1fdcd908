package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

type platform struct{ os, arch string }

func (p platform) String() string { return p.os + "/" + p.arch }

func parsePlatforms(s string) ([]platform, error) {
	var ps []platform
	seen := map[platform]bool{}
	for _, f := range strings.Split(s, ",") {
		goos, goarch, ok := strings.Cut(strings.TrimSpace(f), "/")
		p := platform{goos, goarch}
		if !ok || goos != "linux" || !regexp.MustCompile(`^[a-z0-9]+$`).MatchString(goarch) {
			return nil, fmt.Errorf("platform %q: want linux/GOARCH", f)
		}
		if seen[p] {
			return nil, fmt.Errorf("platform %s listed twice", p)
		}
		seen[p] = true
		ps = append(ps, p)
	}
	return ps, nil
}

func parseTime(s string) (time.Time, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	return t.UTC(), err
}

// tagFor turns a version into a valid tag ("+" is not allowed in one).
func tagFor(version string) string {
	t := regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(version, "-")
	if t == "" || t[0] == '.' || t[0] == '-' {
		t = "v" + t
	}
	return t[:min(len(t), 128)]
}

func (o *options) git(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = o.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

// fillFromGit sets what the flags left empty from the commit checked out:
// the revision, its commit time (every timestamp in the image) and the
// version (git describe, as the Makefile's VERSION).
func (o *options) fillFromGit(ctx context.Context) error {
	var err error
	if o.revision == "" {
		if o.revision, err = o.git(ctx, "rev-parse", "HEAD"); err != nil {
			return fmt.Errorf("finding the revision (or pass --revision): %w", err)
		}
	}
	if o.created.IsZero() {
		ct, err := o.git(ctx, "log", "-1", "--format=%ct", o.revision)
		if err != nil {
			return fmt.Errorf("finding the commit time (or pass --created): %w", err)
		}
		if o.created, err = parseTime(ct); err != nil {
			return fmt.Errorf("commit time %q: %w", ct, err)
		}
	}
	if o.version == "" {
		if o.version, err = o.git(ctx, "describe", "--tags", "--always", "--dirty"); err != nil {
			return fmt.Errorf("finding the version (or pass --version): %w", err)
		}
	}
	return nil
}

// buildBinaries cross-compiles signet for every platform, statically and
// reproducibly: CGO off, -trimpath, no build ID, fixed -ldflags.
func buildBinaries(ctx context.Context, o *options) (map[platform]string, func(), error) {
	dir := o.binDir
	cleanup := func() {}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "signet-image-")
		if err != nil {
			return nil, cleanup, err
		}
		dir, cleanup = tmp, func() { os.RemoveAll(tmp) }
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, cleanup, err
	}
	bins := map[platform]string{}
	for _, p := range o.platforms {
		out, err := filepath.Abs(filepath.Join(dir, "signet-"+p.os+"-"+p.arch))
		if err != nil {
			return nil, cleanup, err
		}
		cmd := exec.CommandContext(ctx, o.goCmd, "build", "-trimpath",
			"-ldflags", o.ldflags(),
			"-o", out, "./cmd/signet")
		cmd.Dir = o.dir
		// GOFLAGS is cleared: a flag from the environment (-race, -cover)
		// would change the binary. VCS stamping stays on: the binary's
		// build info names the commit (and whether the tree was modified).
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.os, "GOARCH="+p.arch, "GOFLAGS=")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, cleanup, fmt.Errorf("building signet for %s: %v: %s", p, err, b)
		}
		bins[p] = out
	}
	return bins, cleanup, nil
}

// ldflags are the linker flags of every build: no symbol table, no build ID
// (it hashes inputs that include the output path), the version stamped.
func (o *options) ldflags() string {
	return "-s -w -buildid= -X github.com/signet-dev/signet/internal/version.Version=" + o.version +
		" -X github.com/signet-dev/signet/internal/version.Commit=" + o.revision
}

package compose

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/signet-dev/signet/internal/check"
)

// The bounds on what a Compose file can make Load read and hold. A Compose
// file in a pull request is attacker-controlled: each is checked before the
// work it bounds, and TestLoadMemory measures what the largest inputs cost
// (parsing costs some 80 bytes of allocation per byte of YAML, compose-go's
// model and signet's node trees together).
const (
	// MaxFileSize bounds the Compose file, each file an extends names and
	// each env file (1 MiB; real ones are a few KiB).
	MaxFileSize = 1 << 20
	// MaxTotalSize bounds the Compose file and the files its extends name,
	// together (4 MiB).
	MaxTotalSize = 4 << 20
	// MaxServices bounds the services plus jobs of the Compose file.
	MaxServices = 1000
	// MaxFiles bounds the distinct files extends may name from one Compose
	// file.
	MaxFiles = 64
	// MaxExtendsNodes bounds the YAML nodes of other files the loader
	// copies while it resolves extends (sources.copies): 1,000 services
	// extending a file of 17 services, or 17 extending a file of 1,000.
	MaxExtendsNodes = 250_000
	// MaxInterpolation bounds the bytes that variables expand to while the
	// env files and the Compose file are interpolated, together (4 MiB):
	// "${A}${A}…" lines that each double the last would otherwise grow
	// exponentially.
	MaxInterpolation = 4 << 20
)

// Options are the inputs docker compose would take from its environment
// and command line.
type Options struct {
	// EnvFiles are --env-file files, in order; without any, the .env file
	// next to the Compose file is read as docker compose does.
	EnvFiles []string
	// Environ is the process environment (os.Environ()), which takes
	// precedence over env files.
	Environ []string
	// Profiles are the active profiles (COMPOSE_PROFILES in Environ adds
	// to them). With none at all, every service is checked, whatever its
	// profiles: a check cannot know which profiles a deployment enables.
	Profiles []string
}

// Load parses the Compose file at name, whose content is data, with the
// Compose Specification's loader (interpolation, extends, profiles, env
// files), and locates each image in the file that writes it.
//
// A service (or job) yields a finding when docker compose would pull its
// image: every service with an image except one that is built and never
// pulled (build: with pull_policy: build); a service that builds and names
// an image is checked (docker compose pull and up --pull fetch it) but not
// pinned (Finding.NoPin). A service of a profile that is not active is not
// run, and not checked. Image volumes (volumes of type image) are checked
// like images.
func Load(name string, data []byte, opts Options) (check.File, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d a Compose file may have", name, len(data), MaxFileSize)
	}
	main, err := parseSource(name, data)
	if err != nil {
		return nil, err
	}
	if main.has("include") {
		return nil, fmt.Errorf("%s: include is not supported: check the included files as Compose files of their own", name)
	}
	if n := main.count("services") + main.count("jobs"); n > MaxServices {
		return nil, fmt.Errorf("%s: %d services and jobs, more than %d", name, n, MaxServices)
	}

	absName := name
	if name != "-" {
		if absName, err = filepath.Abs(name); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	main.abs = absName
	dir := filepath.Dir(absName)
	if name == "-" {
		if dir, err = os.Getwd(); err != nil {
			return nil, err
		}
	}

	budget := &budget{left: MaxInterpolation}
	env, err := environment(dir, opts, budget)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	files := &sources{byAbs: map[string]*source{absName: main}, first: main, total: len(data)}
	if err := files.copies(env); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	project, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: absName, Content: data}},
		Environment: env,
	}, func(o *loader.Options) {
		// What decides an image is read; what only configures a
		// container (env_file, label_file) is not, so a Compose file
		// cannot make signet read those files at all.
		o.SkipResolveEnvironment = true
		o.SkipResolveLabels = true
		o.SkipInclude = true
		o.ResolvePaths = false
		o.Profiles = profiles(opts, env)
		o.ResourceLoaders = []loader.ResourceLoader{files}
		// The project name as docker compose chooses it (only
		// ${COMPOSE_PROJECT_NAME} depends on it).
		if n := env["COMPOSE_PROJECT_NAME"]; n != "" {
			o.SetProjectName(n, true)
		} else if !main.has("name") {
			n = loader.NormalizeProjectName(filepath.Base(dir))
			if n == "" {
				n = "default"
			}
			o.SetProjectName(n, false)
		}
		if o.Interpolate != nil {
			in := *o.Interpolate
			in.LookupValue = budget.lookup(in.LookupValue)
			o.Interpolate = &in
		}
	})
	if err == nil {
		err = budget.err()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f := &file{name: name, sources: files}
	for _, section := range []string{"services", "jobs"} {
		seen := map[string]bool{}
		for _, name := range main.names(section) {
			seen[name] = true
			f.add(project, section, name, env)
		}
		// Any other the loader found (a << merge of services) is checked
		// too, in name order.
		var rest []string
		if section == "services" {
			rest = slices.Sorted(maps.Keys(project.Services))
		} else {
			rest = slices.Sorted(maps.Keys(project.Jobs))
		}
		for _, name := range rest {
			if !seen[name] {
				f.add(project, section, name, env)
			}
		}
	}
	return f, nil
}

// profiles are the active profiles: opts.Profiles and COMPOSE_PROFILES, or
// every profile ("*") when neither names one.
func profiles(opts Options, env types.Mapping) []string {
	var ps []string
	for _, p := range opts.Profiles {
		if p = strings.TrimSpace(p); p != "" {
			ps = append(ps, p)
		}
	}
	for p := range strings.SplitSeq(env["COMPOSE_PROFILES"], ",") {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(ps, p) {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return []string{"*"}
	}
	return ps
}

// file is a loaded Compose file.
type file struct {
	name     string
	sources  *sources
	findings []check.Finding
	// at[i] is where findings[i]'s value is written (nil when unknown).
	at []*location
}

func (f *file) Name() string { return f.name }

func (f *file) Findings() []check.Finding { return slices.Clone(f.findings) }

// add appends the findings of the service or job named name.
func (f *file) add(p *types.Project, section, name string, env types.Mapping) {
	var (
		image, pull string
		build       bool
		volumes     []types.ServiceVolumeConfig
		kind        = "Service"
	)
	if section == "jobs" {
		j, ok := p.Jobs[name]
		if !ok {
			return
		}
		kind, image, pull, build, volumes = "Job", j.Image, j.PullPolicy, j.Build != nil, j.Volumes
	} else {
		s, ok := p.Services[name]
		if !ok {
			return // a profile that is not active
		}
		image, pull, build, volumes = s.Image, s.PullPolicy, s.Build != nil, s.Volumes
	}
	if image != "" && !(build && pull == types.PullPolicyBuild) {
		fd := check.Finding{Kind: kind, Name: name, Path: section + "." + name + ".image", Image: image}
		if build {
			fd.NoPin = "the service is also built (build:): a digest in image: would break docker compose build"
		}
		f.append(fd, f.sources.locate(f.sources.first, section, name, env, imageAt))
	}
	for i, v := range volumes {
		if v.Type != types.VolumeTypeImage || v.Source == "" {
			continue
		}
		fd := check.Finding{Kind: kind, Name: name, Section: "volumes", Container: v.Target,
			Path: fmt.Sprintf("%s.%s.volumes[%d].source", section, name, i), Image: v.Source}
		f.append(fd, f.sources.locate(f.sources.first, section, name, env, volumeAt(v.Target, env)))
	}
}

func (f *file) append(fd check.Finding, at *location) {
	fd.File = f.name
	if at != nil {
		fd.File, fd.Line, fd.Column = at.src.display, at.node.Line, at.node.Column
		if _, line, col, err := valueStart(at.src.data, at.node); err == nil {
			fd.Line, fd.Column = line, col
		}
	}
	f.findings = append(f.findings, fd)
	f.at = append(f.at, at)
}

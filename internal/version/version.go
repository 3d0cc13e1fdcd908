// Package version holds the build's version and commit, set with -ldflags
// "-X github.com/signet-dev/signet/internal/version.Version=v1.2.3
// -X github.com/signet-dev/signet/internal/version.Commit=<git rev-parse HEAD>"
// (the Makefile sets both), and the Go release and platform it was built
// for.
package version

import (
	"runtime"
	"runtime/debug"
)

// Version is the release version; "dev" for untagged builds.
var Version = "dev"

// Commit is the VCS revision the binary was built from. When the build
// did not set it, it is read from the build information the go command
// records (vcs.revision), else it is empty.
var Commit = ""

// Info describes the build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the build's description.
func Get() Info {
	return Info{Version: Version, Commit: commit(), GoVersion: GoVersion(), Platform: Platform()}
}

// GoVersion is the Go release the binary was built with.
func GoVersion() string { return runtime.Version() }

// Platform is the operating system and architecture the binary runs on,
// "linux/amd64".
func Platform() string { return runtime.GOOS + "/" + runtime.GOARCH }

func commit() string {
	if Commit != "" {
		return Commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
}

// String returns the version and, when known, the commit's first 12
// characters.
func String() string {
	v := Version
	if c := commit(); len(c) >= 12 {
		v += " (" + c[:12] + ")"
	}
	return v
}

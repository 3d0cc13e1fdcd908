// Package imageref parses container image references and renders them in the
// one canonical form signet matches policies against and prints:
//
//	registry/path[:tag][@algorithm:hex]
//
// Docker Hub references are normalised the way the Docker CLI does it
// ("nginx" → "docker.io/library/nginx"), the registry host is lower-cased,
// and "index.docker.io" is folded to "docker.io". Parsing is strict: a
// reference that go-containerregistry would reject is rejected here too, so
// policy matching and registry access always see the same repository.
package imageref

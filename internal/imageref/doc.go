// Package imageref parses container image references and renders them in the
// one canonical form signet matches policies against and prints:
//
//	registry/path[:tag][@algorithm:hex]
//
// Every equivalence a container runtime applies is applied here, once, for
// every caller (the webhook, `signet verify`, policy patterns): Docker Hub
// references are normalised the way the Docker CLI does it ("nginx" →
// "docker.io/library/nginx", "index.docker.io" and "registry-1.docker.io"
// → "docker.io"), and the registry host is normalised by NormaliseHost
// (case, default ports 443 and 80, IP address spellings). Parsing is strict:
// a reference that go-containerregistry would reject is rejected here too,
// so policy matching and registry access always see the same repository.
package imageref

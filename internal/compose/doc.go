// Package compose reads Compose files (the Compose Specification, as
// docker compose reads them) for signet check: it finds every service's
// image after interpolation, extends and profiles are resolved, with the
// place in the file where each is written, and rewrites those places to
// pin them.
package compose

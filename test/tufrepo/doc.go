// Package tufrepo serves a real TUF repository on loopback for tests: one
// ed25519 key per top-level role, metadata made and signed with go-tuf's
// metadata API, consistent snapshots, one target. Tests publish versions
// of it, tamper with its target, and take it down.
package tufrepo

// Package hostile is a registry that misbehaves on purpose, for tests: a
// real net/http server on loopback in front of go-containerregistry's
// in-memory registry, with faults injected per request — answers that
// stall before their headers or in the middle of their body, 429/5xx with
// or without Retry-After, redirect loops and redirects to other paths and other hosts,
// bodies claiming gigabytes (streamed lazily, never held in memory),
// content that does not match its digest, truncated bodies, endless
// headers, manifests listing thousands of signatures or referrers, slow
// answers, and a registry that dies mid-request (and comes back).
//
// The suites in this directory run signet's real verification path against
// it: the engine in-process, and the built `signet verify` binary for
// memory figures. docs/security.md describes what each fault tests and
// what signet answers.
package hostile

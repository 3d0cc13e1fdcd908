// Package faults runs the built `signet serve` binary through the faults
// a webhook meets in production — a registry that dies or stops answering
// in the middle of a verification, a policy file replaced with garbage
// under load, TLS files rotated and deleted, SIGTERM under load — and
// checks what docs/security.md's failure table promises: every answer is
// correct (an unsigned image is never allowed), nothing is answered with a
// 5xx or a truncated body, and signet recovers once the fault is gone.
//
// Registries are go-containerregistry's in-memory registry behind the
// real HTTP server of package hostile; only loopback addresses are used.
package faults

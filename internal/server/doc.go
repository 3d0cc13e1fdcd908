// Package server is signet's composition root: the one place that wires
// concrete types together for `signet serve` — the policy file watcher and
// its atomically swapped engine, the TLS certificate reloader, the
// admission handlers, health endpoints, metrics and graceful shutdown.
package server

// Package registry is signet's only door to OCI registries: it resolves tags
// to digests and hands verifiers the go-containerregistry options (transport,
// credentials, user agent) they fetch signatures with.
//
// It also owns the mapping from registry errors to verification outcomes:
// "not found" is a definitive answer about the image (failed), while network
// errors, timeouts, 429 and 5xx say nothing about the image (inconclusive).
// Libraries log nothing; errors carry the registry and the image so that a
// denial names both.
//
// Every request goes through one transport under go-containerregistry's
// (limit.go, scheme.go): HTTPS only unless the registry is listed as
// insecure (NewInsecure, by the Client or the request's context), never
// credentials over plain HTTP, every answer bounded by what the first
// request of its redirect chain fetched. The authenticated state kept for
// reuse is bounded (pullers.go).
package registry

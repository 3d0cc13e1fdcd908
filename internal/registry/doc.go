// Package registry is signet's only door to OCI registries: it resolves tags
// to digests and hands verifiers the go-containerregistry options (transport,
// credentials, user agent) they fetch signatures with.
//
// It also owns the mapping from registry errors to verification outcomes:
// "not found" is a definitive answer about the image (failed), while network
// errors, timeouts, 429 and 5xx say nothing about the image (inconclusive).
// Libraries log nothing; errors carry the registry and the image so that a
// denial names both.
package registry

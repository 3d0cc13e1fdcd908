// Package decisionlog writes signet's decision log: one JSON line per
// admission with what was asked (uid, kind, object, user), what was decided
// and why, image by image.
//
// It is its own writer rather than a slog call because it is on the path of
// every admission: a record is encoded straight into a pooled buffer by the
// JSON v2 encoder and written with one call, several times cheaper than
// slog's attribute handling and reflection. The line keeps slog's shape
// (time, level, msg) so log pipelines that parse signet's other lines parse
// these too. The Sink interface is the seam for other destinations (a
// signed, hash-chained audit log).
package decisionlog

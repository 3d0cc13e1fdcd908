// Package auditlog writes and verifies signet's tamper-evident audit log:
// one JSON line per decision (admission now; re-verification later,
// through the same Writer.Write), each line carrying the SHA-256 of the
// line before it, so that altering, removing, inserting or reordering a
// line breaks the chain; and, with a signing key, signed checkpoint lines
// that bind the chain's length and head to the key.
//
// # Lines
//
// Every line is one JSON object followed by "\n":
//
//	{"seq":N,"prev":"<hex>","time":"<RFC 3339>","type":"<type>",...}
//
// seq counts lines from the first genesis line of the chain (0) and goes
// on across rotated files and restarts. prev is the lowercase hex SHA-256
// of the previous line's bytes as they are in the file, without its
// trailing "\n" (see Hash); "" only on the very first line of a chain.
// time is RFC 3339 with nanoseconds, UTC. type is one of:
//
//   - "genesis": the first line a process writes: genesis.instance (the
//     host or Pod name), genesis.start, and the checkpoint cadence and key
//     id in force; prev links to the last line of the file the previous
//     process left, when there is one.
//   - "rotate": the first line of a file after rotation; rotate.previous
//     names the file the chain continues from.
//   - "decision": decision is the decision log's record (msg "admission";
//     re-verification records will be written the same way);
//     omittedImages counts images left out to keep the line within
//     MaxLineBytes.
//   - "checkpoint": below.
//
// A verifier hashes bytes, never re-encoded JSON: no canonical JSON form
// is needed.
//
// # Checkpoints
//
// With a key, a checkpoint line is written every CheckpointLines lines,
// every CheckpointInterval when lines were written since the last one,
// before each rotation and on Close:
//
//	{"seq":N,"prev":H,"time":T,"type":"checkpoint","checkpoint":{"count":N,"head":H,"keyId":K,"signature":S}}
//
// count is the number of lines before the checkpoint in the chain (its own
// seq), head the hash of the line before it (its prev), keyId the hex
// SHA-256 of the key's public key in DER (PKIX) form, and signature the
// standard base64 of the signature over the bytes of CheckpointMessage:
//
//	"signet-audit-checkpoint-v1\n" + count (decimal) + "\n" + head + "\n" + T + "\n"
//
// where T is the line's time field exactly as written. Ed25519 keys sign
// those bytes (pure Ed25519); ECDSA keys sign their SHA-256 (ASN.1 DER
// signature). Verify checks all of this; docs/security.md has a short
// script doing the same.
//
// # Bounds
//
// Writes never wait on the disk: Write encodes the record in the caller
// and hands it to a queue of at most QueueLines lines and QueueBytes bytes,
// which one goroutine writes. A line is at most MaxLineBytes. When the
// queue is full or a write fails the line is lost, counted
// (signet_audit_write_errors_total) and logged (at most once every
// ErrorLogInterval), and Err reports the failure until a line is written
// again — admission reads that (an atomic load) to fail closed with
// --audit-required.
package auditlog

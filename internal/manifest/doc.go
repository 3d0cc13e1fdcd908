// Package manifest reads Kubernetes manifests — YAML, one or many
// documents, or JSON — as signet check sees them: every image of every
// workload, found by the webhook's own code, with the line, column and byte
// extent of its value in the file, so that the file can be rewritten with
// pinned images and nothing else changed.
//
// Each document is parsed with the YAML node API (go.yaml.in/yaml/v3).
// The items of an object that has a list of them are read item by item,
// as kubectl expands them, whatever its kind (a List, a PodList, or a
// ConfigMap hiding a Pod under items); an
// object of one of the nine workload kinds is encoded to JSON and read by
// workload.Decode, and an object of a kind the policy declares
// (spec.resources) by workload.DecodeResource, exactly as admission reads
// them, so every container list and image volume comes out alike. Each
// image's JSON pointer is then followed in the node tree back to its
// scalar. Objects of other kinds, documents without a kind and top-level
// sequences are skipped; a document that is a bare scalar (a text file) is
// an error, as is anything the YAML parser refuses.
//
// Rewrite replaces the bytes of a scalar's value and nothing else: a
// double- or single-quoted value stays quoted alike, comments, key order,
// separators and line endings are untouched. A value that cannot be
// spliced safely (a block scalar, a plain scalar over several lines) is an
// error, never a re-marshalled document; the rewritten file is parsed again
// and must show the new images at the same places.
//
// # Bounds
//
// A manifest in a pull request is written by whoever opened it; every size
// and count it controls is bounded, and going over a bound is an error
// naming the file:
//
//   - MaxFileBytes (32 MiB): a file is read up to it.
//   - MaxDocumentBytes (3 MiB, the API server's own limit on a request
//     body): documents are split at their "---" lines before parsing, and a
//     larger one is refused before the YAML parser builds its nodes, which
//     cost some 200 bytes per value written in as little as two bytes.
//   - MaxDocuments (10,000) per file, counting empty ones: a file of
//     "---" lines costs no more than this many parser runs.
//   - MaxObjectJSON (8 MiB): the JSON an object is encoded to for
//     workload.Decode. Aliases are expanded while encoding, so this is
//     what bounds a YAML alias bomb ("billion laughs"): every value
//     visited writes at least one byte.
//   - MaxDepth (1,000): nesting while encoding, aliases followed included
//     (the parser's own limit is 10,000 levels of indentation or flow).
//   - MaxListDepth (8): Lists within Lists.
//   - MaxFindings (50,000) images per file; an object has at most
//     workload.MaxImages (1,000), as in admission.
//
// TestParseMemory measures the heap at each bound (live heap sampled every
// millisecond, GOGC=100, garbage not yet collected included): the densest
// document the size bound lets in, a 3 MiB flow sequence of one-letter
// values (1.5 million nodes), holds at most 290 MiB while it is parsed and
// nothing after; a 32 MiB file of such documents, 360 MiB at most, as
// documents are parsed one at a time; 10,000 documents, 12 MiB; an alias
// bomb, 25 MiB before it is refused; a 3 MiB List of aliases to one large
// object, 270 MiB before MaxEncodedJSON refuses it. A parsed file keeps its
// bytes and its findings only.
package manifest

package policyimport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// Bounds on what a converter reads. Inputs are files their owner chose to
// convert, but they are bounded all the same: a converted policy must load
// (policy.MaxDocumentBytes), and no input may make the converter hold
// unbounded memory or time.
const (
	// maxDocuments bounds the YAML documents read from all inputs.
	maxDocuments = 1000
	// maxItems bounds every list read (validators, rules, trust roots,
	// authorities, images, identities…); the items past it are dropped,
	// with a note.
	maxItems = 1000
)

// node is a value decoded from YAML, with where it is in the input, for
// notes.
type node struct {
	v   any
	src string
	// top is true for a document itself: its fields are written
	// "file: field".
	top bool
}

// decodeAll decodes every YAML (or JSON) document of in, skipping empty
// ones; at most maxDocuments across all inputs.
func decodeAll(in []Input) ([]node, error) {
	var out []node
	for _, f := range in {
		dec := yaml.NewDecoder(bytes.NewReader(f.Data))
		for i := 0; ; i++ {
			var v any
			err := dec.Decode(&v)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: document %d: %w", f.Name, i+1, err)
			}
			if v == nil {
				continue
			}
			if len(out) == maxDocuments {
				return nil, fmt.Errorf("%s: more than %d YAML documents", f.Name, maxDocuments)
			}
			src := f.Name
			if i > 0 {
				src = fmt.Sprintf("%s (document %d)", f.Name, i+1)
			}
			out = append(out, node{v: v, src: src, top: true})
		}
	}
	return out, nil
}

// mapping returns n's keys and values, nil when n is not a mapping.
func (n node) mapping() map[string]any {
	m, _ := n.v.(map[string]any)
	return m
}

// get returns the field k of a mapping (a node with a nil value when n is
// not a mapping or has no such field).
func (n node) get(k string) node {
	sep := "."
	if n.top {
		sep = ": "
	}
	return node{v: n.mapping()[k], src: n.src + sep + k}
}

// has reports whether the mapping n has the field k.
func (n node) has(k string) bool {
	_, ok := n.mapping()[k]
	return ok
}

// str returns n as a string; numbers and booleans are written out, as a
// YAML reader of the original tool would take them for a string field.
func (n node) str() string {
	switch v := n.v.(type) {
	case string:
		return v
	case int, int64, uint64, float64, bool:
		return fmt.Sprint(v)
	}
	return ""
}

// boolean returns n as a bool and whether it is one.
func (n node) boolean() (bool, bool) {
	b, ok := n.v.(bool)
	return b, ok
}

// integer returns n as an int and whether it is one.
func (n node) integer() (int, bool) {
	switch v := n.v.(type) {
	case int:
		return v, true
	case string:
		i, err := strconv.Atoi(v)
		return i, err == nil
	}
	return 0, false
}

// list returns the items of a sequence, at most maxItems of them, and
// whether some were dropped.
func (n node) list() ([]node, bool) {
	l, _ := n.v.([]any)
	cut := len(l) > maxItems
	if cut {
		l = l[:maxItems]
	}
	out := make([]node, len(l))
	for i, v := range l {
		out[i] = node{v: v, src: fmt.Sprintf("%s[%d]", n.src, i)}
	}
	return out, cut
}

// strings returns a sequence of strings (a lone string as a list of one).
func (n node) strings() []string {
	if s, ok := n.v.(string); ok {
		return []string{s}
	}
	items, _ := n.list()
	var out []string
	for _, it := range items {
		if s := it.str(); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// notes collects a converter's notes.
type notes []Note

func (ns *notes) add(path, src, format string, args ...any) {
	*ns = append(*ns, Note{Path: path, Source: src, Message: fmt.Sprintf(format, args...)})
}

// unknown notes every field of the mapping n not in known, as not
// converted.
func (ns *notes) unknown(n node, path string, known ...string) {
	m := n.mapping()
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !slices.Contains(known, k) {
			ns.add(path, n.get(k).src, "not converted: signet import does not know this field")
		}
	}
}

// truncated notes a list cut at maxItems.
func (ns *notes) truncated(cut bool, path string, n node) {
	if cut {
		ns.add(path, n.src, "only the first %d items are converted", maxItems)
	}
}

package attest

import (
	"bytes"
	"context"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"
)

// tape is a compact index of a JSON value: one node per value and per
// object member name, in document order. A condition reads the predicate
// through it without decoding it: an object member or list element is found
// by hopping over whole values, and a string or number is decoded only when
// a condition reads it. It costs 8 bytes per JSON token, on top of the
// payload it indexes; a map[string]any decode costs several times the
// payload (see doc.go for both figures).
type tape struct {
	raw    []byte
	chunks [][]node // nodes in chunks of chunkLen, so that growing never copies
	len    uint32
}

// chunkLen is the number of nodes per chunk (512 KiB).
const chunkLen = 1 << 16

func (t *tape) node(i uint32) *node { return &t.chunks[i/chunkLen][i%chunkLen] }

func (t *tape) push(ctx context.Context, n node) error {
	if t.len%chunkLen == 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("indexing the predicate: %w", err)
		}
		t.chunks = append(t.chunks, make([]node, 0, chunkLen))
	}
	c := &t.chunks[len(t.chunks)-1]
	*c = append(*c, n)
	t.len++
	return nil
}

// end is node i's end (see node).
func (t *tape) end(i uint32) uint32 { return t.node(i).end }

// node is one JSON value or member name. For an object or a list, end is the
// index of the first node after it (its descendants lie in between); for
// anything else, end is the byte offset just past it in raw.
type node struct {
	start, end uint32
}

// buildTape indexes raw, a JSON value already validated by ParseStatement,
// looking at ctx every chunk.
func buildTape(ctx context.Context, raw []byte) (*tape, error) {
	t := &tape{raw: raw}
	dec := jsontext.NewDecoder(bytes.NewBuffer(raw))
	var open []uint32
	for {
		switch k := dec.PeekKind(); k {
		case '{', '[':
			if _, err := dec.ReadToken(); err != nil {
				return nil, fmt.Errorf("predicate: %w", err)
			}
			open = append(open, t.len)
			if err := t.push(ctx, node{start: uint32(dec.InputOffset() - 1)}); err != nil {
				return nil, err
			}
		case '}', ']':
			if _, err := dec.ReadToken(); err != nil {
				return nil, fmt.Errorf("predicate: %w", err)
			}
			last := len(open) - 1
			t.node(open[last]).end = t.len
			open = open[:last]
		case 0:
			_, err := dec.ReadToken()
			return nil, fmt.Errorf("predicate: %w", err)
		default:
			v, err := dec.ReadValue()
			if err != nil {
				return nil, fmt.Errorf("predicate: %w", err)
			}
			end := dec.InputOffset()
			if err := t.push(ctx, node{start: uint32(end - int64(len(v))), end: uint32(end)}); err != nil {
				return nil, err
			}
		}
		if len(open) == 0 {
			return t, nil
		}
	}
}

// kind is the first byte of node i: '{', '[', '"', 't', 'f', 'n' or a
// number's first byte.
func (t *tape) kind(i uint32) byte { return t.raw[t.node(i).start] }

// next is the index of the node after value i and its descendants.
func (t *tape) next(i uint32) uint32 {
	switch t.kind(i) {
	case '{', '[':
		return t.node(i).end
	}
	return i + 1
}

// bytes is the JSON text of scalar node i.
func (t *tape) bytes(i uint32) []byte {
	n := t.node(i)
	return t.raw[n.start:n.end]
}

// nameIs reports whether member name node i is name, without allocating
// when the name has no escapes.
func (t *tape) nameIs(i uint32, name string) bool {
	b := t.bytes(i)
	b = b[1 : len(b)-1]
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b) == name
	}
	s, err := jsontext.AppendUnquote(nil, t.bytes(i))
	return err == nil && string(s) == name
}

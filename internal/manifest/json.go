package manifest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"go.yaml.in/yaml/v3"
)

// errTooLarge is the error for an object over its JSON budget.
var errTooLarge = fmt.Errorf("%w: the object encodes to more than %d bytes of JSON (YAML aliases expanded)", ErrLimit, MaxObjectJSON)

// encoder writes a YAML node tree as JSON, as kubectl sends a manifest to
// the API server: aliases expanded, merge keys ("<<") merged, scalars
// resolved by their YAML 1.2 tags. Every node written costs at least one
// byte of budget, and every mapping entry a merge looks at one more, so
// the work done is bounded by the budget whatever aliases expand to.
type encoder struct {
	buf    []byte
	budget int
}

// pair is a mapping entry, merge keys resolved.
type pair struct {
	key   string
	value *yaml.Node
}

func (e *encoder) charge(n int) error {
	if e.budget -= n; e.budget < 0 {
		return errTooLarge
	}
	return nil
}

func (e *encoder) node(n *yaml.Node, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("%w: nested more than %d deep (YAML aliases followed)", ErrLimit, MaxDepth)
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return e.write("null")
		}
		return e.node(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return errors.New("an alias to nothing")
		}
		return e.node(n.Alias, depth+1)
	case yaml.MappingNode:
		pairs, err := e.entries(n, depth)
		if err != nil {
			return err
		}
		if err := e.write("{"); err != nil {
			return err
		}
		for i, kv := range pairs {
			if i > 0 {
				if err := e.write(","); err != nil {
					return err
				}
			}
			if err := e.str(kv.key); err != nil {
				return err
			}
			if err := e.write(":"); err != nil {
				return err
			}
			if err := e.node(kv.value, depth+1); err != nil {
				return err
			}
		}
		return e.write("}")
	case yaml.SequenceNode:
		if err := e.write("["); err != nil {
			return err
		}
		for i, c := range n.Content {
			if i > 0 {
				if err := e.write(","); err != nil {
					return err
				}
			}
			if err := e.node(c, depth+1); err != nil {
				return err
			}
		}
		return e.write("]")
	case yaml.ScalarNode:
		return e.scalar(n)
	}
	return fmt.Errorf("line %d: an unknown YAML node", n.Line)
}

func (e *encoder) write(s string) error {
	if err := e.charge(len(s)); err != nil {
		return err
	}
	e.buf = append(e.buf, s...)
	return nil
}

func (e *encoder) str(s string) error {
	if err := e.charge(len(s) + 2); err != nil {
		return err
	}
	b, err := jsontext.AppendQuote(e.buf, s)
	if err != nil {
		return fmt.Errorf("a string that is not UTF-8: %w", err)
	}
	e.buf = b
	return nil
}

// scalar writes a scalar by its resolved tag: null, booleans and numbers
// as JSON's, everything else (strings, timestamps, binary, custom tags)
// as a string of its text.
func (e *encoder) scalar(n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!null":
		return e.write("null")
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err == nil {
			if b, err := json.Marshal(v); err == nil {
				return e.write(string(b))
			}
		}
	case "!!binary":
		// kubectl sends the decoded bytes: an image written in base64 must
		// be decided as the image it names.
		var s string
		if err := n.Decode(&s); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		return e.str(s)
	}
	return e.str(n.Value)
}

// isMerge reports whether k is a merge key ("<<", unquoted).
func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
}

// entries returns a mapping's entries as kubectl reads them: its own keys,
// in order (a key given twice twice: decoding the JSON refuses it), then
// the keys of the mappings merged in ("<<: *base" or "<<: [*a, *b]", the
// first one giving a key winning) that it does not set itself.
func (e *encoder) entries(n *yaml.Node, depth int) ([]pair, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("%w: merge keys nested more than %d deep", ErrLimit, MaxDepth)
	}
	var out []pair
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if err := e.charge(1); err != nil {
			return nil, err
		}
		k, v := deref(n.Content[i]), n.Content[i+1]
		if isMerge(k) {
			merges = append(merges, deref(v))
			continue
		}
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a mapping key that is not a string", k.Line)
		}
		out = append(out, pair{k.Value, v})
	}
	if len(merges) == 0 {
		return out, nil
	}
	have := make(map[string]bool, len(out))
	for _, kv := range out {
		have[kv.key] = true
	}
	for _, m := range merges {
		srcs := []*yaml.Node{m}
		if m.Kind == yaml.SequenceNode {
			srcs = m.Content
		}
		for _, s := range srcs {
			s = deref(s)
			if s.Kind != yaml.MappingNode {
				return nil, fmt.Errorf("line %d: a merge key (<<) whose value is not a mapping or a list of mappings", s.Line)
			}
			sub, err := e.entries(s, depth+1)
			if err != nil {
				return nil, err
			}
			for _, kv := range sub {
				if !have[kv.key] {
					have[kv.key] = true
					out = append(out, kv)
				}
			}
		}
	}
	return out, nil
}

// deref follows aliases (bounded: an alias names an anchor defined
// before it, so chains end).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i <= MaxDepth; i++ {
		n = n.Alias
	}
	return n
}

// resolve follows the JSON pointer ptr from n, as entries reads mappings,
// to the scalar it names. A pointer whose last member is absent (a
// container without an image) returns a nil node and the node holding it.
func resolve(n *yaml.Node, ptr string) (v, parent *yaml.Node, err error) {
	if ptr == "" || ptr[0] != '/' {
		return nil, nil, fmt.Errorf("not a JSON pointer: %q", ptr)
	}
	enc := &encoder{budget: MaxObjectJSON}
	toks := strings.Split(ptr[1:], "/")
	cur := deref(n)
	for i, t := range toks {
		t = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
		var next *yaml.Node
		switch cur.Kind {
		case yaml.MappingNode:
			pairs, err := enc.entries(cur, 0)
			if err != nil {
				return nil, nil, err
			}
			if kv := valueOf(pairs, t); kv != nil {
				next = kv
			}
		case yaml.SequenceNode:
			if j, err := strconv.Atoi(t); err == nil && j >= 0 && j < len(cur.Content) {
				next = deref(cur.Content[j])
			}
		}
		if next == nil {
			if i == len(toks)-1 {
				return nil, cur, nil
			}
			return nil, nil, errors.New("no such value in the YAML")
		}
		cur = next
	}
	if cur.Kind != yaml.ScalarNode {
		return nil, cur, nil
	}
	return cur, nil, nil
}

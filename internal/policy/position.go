package policy

import (
	"bytes"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	yaml "go.yaml.in/yaml/v3"
)

// source is the text a Document was parsed from, kept so that problems
// found later (by Compile) are reported with their YAML line and column.
// The node tree is built only when there is a problem to locate.
type source struct {
	data []byte
	// object is set for a resource (parseObject): the Document's fields
	// are under spec.
	object bool
	// namespace is the metadata.namespace of a namespaced ImagePolicy
	// resource: Lint holds it to what an ImagePolicy may say.
	namespace string

	mu    sync.Mutex
	built bool
	root  *yaml.Node // nil when the text does not parse as one YAML node tree
	// keys indexes the keys of the mappings met so far: a mapping may hold
	// very many keys (unknown fields), each located once.
	keys map[*yaml.Node]map[string]int
}

func newSource(data []byte) *source { return &source{data: data} }

// locate sets the line and column of every problem whose field path names
// a node of the document (or, for a field that is missing, its nearest
// ancestor that is there).
func (s *source) locate(p problems) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range p {
		if s.object {
			p[i].Field = objectField(p[i].Field)
		}
		if p[i].Line == 0 {
			p[i].Line, p[i].Column = s.position(p[i].Field, p[i].key)
		}
	}
}

// position returns the line and column (1-based) of the node at path
// ("rules[2].with.threshold"), or of its key, 0, 0 when nothing is found.
func (s *source) position(path string, key bool) (int, int) {
	if !s.built {
		s.built = true
		var doc yaml.Node
		if yaml.Unmarshal(s.data, &doc) == nil && doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
			s.root = doc.Content[0]
		}
		s.keys = map[*yaml.Node]map[string]int{}
	}
	if s.root == nil || path == "" {
		return 0, 0
	}
	n := s.nodeAt(s.root, path, key)
	if n == nil {
		return 0, 0
	}
	return n.Line, n.Column
}

// maxDepth bounds how deep a path is followed; a policy's paths are a few
// levels deep, and a path is never longer than the document.
const maxDepth = 64

// nodeAt follows path from n. It returns the node of the deepest element
// of the path found: a scalar value itself (its key when key is set), the
// key of a mapping entry whose value is a mapping or a list (the line that
// names it), the list item itself. A key that is not in the mapping (a
// field that is missing) stops at the mapping's own position. Past an
// alias ("*name"), the alias is the position: the problem is where the
// anchored content is used.
func (s *source) nodeAt(n *yaml.Node, path string, key bool) *yaml.Node {
	at, aliased := n, false
	for depth := 0; path != "" && depth < maxDepth; depth++ {
		if n.Kind == yaml.AliasNode {
			aliased = true
		}
		n = deref(n)
		var next, pos *yaml.Node
		switch {
		case strings.HasPrefix(path, "["):
			end := strings.IndexByte(path, ']')
			if end < 0 || n.Kind != yaml.SequenceNode {
				return at
			}
			i, err := strconv.Atoi(path[1:end])
			if err != nil || i < 0 || i >= len(n.Content) {
				return at
			}
			next, pos, path = n.Content[i], n.Content[i], path[end+1:]
		case n.Kind == yaml.MappingNode:
			k, v := s.entry(n, strings.TrimPrefix(path, "."))
			if k == nil {
				return at
			}
			path = strings.TrimPrefix(path, ".")[len(k.Value):]
			next, pos = v, v
			if kind := deref(v).Kind; kind == yaml.MappingNode || kind == yaml.SequenceNode || (key && path == "") {
				pos = k
			}
		default:
			return at
		}
		n = next
		if !aliased {
			at = pos
		}
	}
	return at
}

// entry finds the entry of mapping m whose key begins path: the whole
// path (an unknown field's name may hold "." or "["), else the path up to
// its first "." or "[".
func (s *source) entry(m *yaml.Node, path string) (key, value *yaml.Node) {
	idx, ok := s.keys[m]
	if !ok {
		idx = make(map[string]int, len(m.Content)/2)
		for i := 0; i+1 < len(m.Content); i += 2 {
			if k := m.Content[i]; k.Kind == yaml.ScalarNode {
				if _, dup := idx[k.Value]; !dup {
					idx[k.Value] = i
				}
			}
		}
		s.keys[m] = idx
	}
	i, ok := idx[path]
	if !ok {
		end := strings.IndexAny(path, ".[")
		if end < 0 {
			return nil, nil
		}
		if i, ok = idx[path[:end]]; !ok {
			return nil, nil
		}
	}
	return m.Content[i], m.Content[i+1]
}

// objectField is the path in a resource of a Document's field: a field of
// the Spec is under "spec."; apiVersion, kind and metadata are where they
// are, and so is a path already under "spec.".
func objectField(path string) string {
	first := path
	if i := strings.IndexAny(path, ".["); i >= 0 {
		first = path[:i]
	}
	if _, ok := jsonFields(reflect.TypeFor[Spec]())[first]; ok {
		return "spec." + path
	}
	return path
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < maxDepth; i++ {
		n = n.Alias
	}
	return n
}

// yamlLine finds the line a YAML syntax error names.
var yamlLine = regexp.MustCompile(`\byaml: line (\d+):`)

// syntaxLine returns the line of data a YAML syntax error names (the last
// line when the parser counts past it), 0 when it names none.
func syntaxLine(data []byte, err error) int {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return min(n, bytes.Count(data, []byte("\n"))+1)
}

// sortByPosition orders problems by line and column, those without a
// position first, keeping the order of problems at one position.
func sortByPosition(p problems) {
	slices.SortStableFunc(p, func(a, b FieldError) int {
		if a.Line != b.Line {
			return a.Line - b.Line
		}
		return a.Column - b.Column
	})
}

package compose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/consts"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	yaml "go.yaml.in/yaml/v3"
)

// source is one file of a Compose project, as its YAML nodes: the Compose
// file or a file an extends names.
type source struct {
	display string // the path reported in findings and Rewrite's keys
	abs     string
	data    []byte
	root    *yaml.Node   // the first document's top-level mapping
	later   []*yaml.Node // those of later documents (rare)
	// index maps a document and a section ("services", "jobs") to its
	// entries by name, built on first use: an extends chain is walked once
	// per service.
	index map[*yaml.Node]map[string]map[string]*yaml.Node
}

// entries returns the service (or job) name of section in each document
// that has it, in document order.
func (src *source) entries(section, name string) []*yaml.Node {
	if src.index == nil {
		src.index = map[*yaml.Node]map[string]map[string]*yaml.Node{}
	}
	var out []*yaml.Node
	for _, d := range src.docs() {
		if src.index[d] == nil {
			src.index[d] = map[string]map[string]*yaml.Node{}
		}
		idx, ok := src.index[d][section]
		if !ok {
			m := mapValue(d, section)
			idx = map[string]*yaml.Node{}
			for _, k := range mapping(m) {
				if _, seen := idx[k.Value]; !seen && k.Tag != "!!merge" {
					idx[k.Value] = mapValue(m, k.Value)
				}
			}
			src.index[d][section] = idx
		}
		n, ok := idx[name]
		if !ok {
			n = mapValue(mapValue(d, section), name) // from a << merge
		}
		if n != nil {
			out = append(out, n)
		}
	}
	return out
}

// last returns the value of key in the last of svcs that has it: the
// loader merges documents, a later one over an earlier one.
func last(svcs []*yaml.Node, key string) *yaml.Node {
	for i := len(svcs) - 1; i >= 0; i-- {
		if v := mapValue(svcs[i], key); v != nil {
			return v
		}
	}
	return nil
}

// names returns the names of section's entries over every document, in
// file order, each once.
func (src *source) names(section string) []string {
	var out []string
	seen := map[string]bool{}
	for _, d := range src.docs() {
		for _, k := range mapping(mapValue(d, section)) {
			if !seen[k.Value] && k.Tag != "!!merge" {
				seen[k.Value] = true
				out = append(out, k.Value)
			}
		}
	}
	return out
}

func parseSource(display string, data []byte) (*source, error) {
	src := &source{display: display, data: data}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", display, err)
		}
		root := resolve(&doc)
		if root.Kind == yaml.DocumentNode {
			if len(root.Content) == 0 {
				continue // an empty document
			}
			root = resolve(root.Content[0])
		}
		if root != nil && root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue // an empty document
		}
		if root == nil || root.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s is not a Compose file: not a YAML mapping", display)
		}
		if src.root == nil {
			src.root = root
		} else {
			src.later = append(src.later, root)
		}
	}
	if src.root == nil {
		return nil, fmt.Errorf("%s is not a Compose file: empty", display)
	}
	return src, nil
}

// docs returns the top-level mappings of every document, in order (the
// loader merges them, a later one over an earlier one).
func (src *source) docs() []*yaml.Node {
	return append([]*yaml.Node{src.root}, src.later...)
}

// has reports whether a document of src has the top-level key.
func (src *source) has(key string) bool {
	for _, d := range src.docs() {
		if mapValue(d, key) != nil {
			return true
		}
	}
	return false
}

// count counts the entries of section in every document.
func (src *source) count(section string) int {
	n := 0
	for _, d := range src.docs() {
		n += len(mapping(mapValue(d, section)))
	}
	return n
}

// sources are the files of one Compose project. It is the loader's only
// resource loader, so every file an extends names is read here first:
// resolved against the file that names it (as docker compose does), a
// regular file of at most MaxFileSize, at most MaxFiles of them and
// MaxTotalSize with the Compose file, and a YAML mapping; an error names
// the file, never its content.
type sources struct {
	byAbs map[string]*source
	first *source // the Compose file
	total int     // bytes read, the Compose file's included
}

// Accept takes every path: a remote one (git, OCI) is read as a local path
// and so never fetched.
func (s *sources) Accept(string) bool { return true }

// Load reads the file at p, named in the file the loader is reading.
func (s *sources) Load(ctx context.Context, p string) (string, error) {
	from, _ := ctx.Value(consts.ComposeFileKey{}).(string)
	src, err := s.open(from, p)
	if err != nil {
		return "", err
	}
	return src.abs, nil
}

// Dir is the directory relative paths of p resolve against; paths other
// than images are not read.
func (s *sources) Dir(p string) string { return filepath.Dir(p) }

// open returns the file at p, named in the file whose path is from.
func (s *sources) open(from, p string) (*source, error) {
	abs := p
	if !filepath.IsAbs(p) {
		var err error
		if abs, err = filepath.Abs(filepath.Join(filepath.Dir(from), p)); err != nil {
			return nil, err
		}
	}
	if src, ok := s.byAbs[abs]; ok {
		return src, nil
	}
	if len(s.byAbs) > MaxFiles {
		return nil, fmt.Errorf("extends names more than %d files", MaxFiles)
	}
	display := p
	if parent, ok := s.byAbs[from]; ok && !filepath.IsAbs(p) {
		display = filepath.Join(filepath.Dir(parent.display), p)
	}
	data, err := readFile(abs, "extends file")
	if err != nil {
		return nil, err
	}
	if s.total += len(data); s.total > MaxTotalSize {
		return nil, fmt.Errorf("the Compose file and the files its extends name are more than %d bytes together", MaxTotalSize)
	}
	src, err := parseSource(display, data)
	if err != nil {
		return nil, errors.New(display + " (extends file) is not a Compose file: not a YAML mapping")
	}
	src.abs = abs
	s.byAbs[abs] = src
	return src, nil
}

// location is where a value is written: its scalar node in a source.
type location struct {
	src  *source
	node *yaml.Node
}

// locate follows the service (or job) name of section from src along its
// extends until a mapping where at finds the value: where the loader took
// it from, since the extending service's own keys win over its base's.
func (s *sources) locate(src *source, section, name string, env types.Mapping, at func(svc *yaml.Node, env types.Mapping) *yaml.Node) *location {
	for range MaxFiles + MaxServices {
		svcs := src.entries(section, name)
		for i := len(svcs) - 1; i >= 0; i-- {
			if n := at(svcs[i], env); n != nil {
				if n.Kind != yaml.ScalarNode {
					return nil
				}
				return &location{src: src, node: n}
			}
		}
		ext := last(svcs, "extends")
		switch {
		case ext == nil:
			return nil
		case ext.Kind == yaml.ScalarNode:
			name = interpolate(ext.Value, env)
		case ext.Kind == yaml.MappingNode:
			service := mapValue(ext, "service")
			if service == nil {
				return nil
			}
			name = interpolate(service.Value, env)
			if f := mapValue(ext, "file"); f != nil {
				next, err := s.open(src.abs, interpolate(f.Value, env))
				if err != nil {
					return nil
				}
				src = next
			}
		default:
			return nil
		}
	}
	return nil
}

func imageAt(svc *yaml.Node, _ types.Mapping) *yaml.Node { return mapValue(svc, "image") }

// volumeAt finds the source of the image volume mounted at target.
func volumeAt(target string, env types.Mapping) func(*yaml.Node, types.Mapping) *yaml.Node {
	return func(svc *yaml.Node, _ types.Mapping) *yaml.Node {
		vs := mapValue(svc, "volumes")
		if vs == nil || vs.Kind != yaml.SequenceNode {
			return nil
		}
		for _, v := range vs.Content {
			v = resolve(v)
			t, tg := mapValue(v, "type"), mapValue(v, "target")
			if t == nil || tg == nil || interpolate(t.Value, env) != types.VolumeTypeImage || interpolate(tg.Value, env) != target {
				continue
			}
			return mapValue(v, "source")
		}
		return nil
	}
}

// interpolate expands s as the loader does; on an error (a required
// variable unset, which the loader has reported already) s is kept.
func interpolate(s string, env types.Mapping) string {
	if !strings.Contains(s, "$") {
		return s
	}
	out, err := template.Substitute(s, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		return s
	}
	return out
}

// resolve follows an alias to the node it names (where the value is
// written).
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// mapValue returns the value of key in the mapping m (aliases resolved;
// keys of its own first, then those of << merges, as YAML merges them), or
// nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	return mapValueDepth(resolve(m), key, 0)
}

func mapValueDepth(m *yaml.Node, key string, depth int) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode || depth > 16 {
		return nil
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		switch {
		case k.Kind == yaml.ScalarNode && k.Tag == "!!merge":
			merges = append(merges, m.Content[i+1])
		case k.Kind == yaml.ScalarNode && k.Value == key:
			return resolve(m.Content[i+1])
		}
	}
	for _, mg := range merges {
		mg = resolve(mg)
		list := []*yaml.Node{mg}
		if mg.Kind == yaml.SequenceNode {
			list = mg.Content
		}
		for _, one := range list {
			if v := mapValueDepth(resolve(one), key, depth+1); v != nil {
				return v
			}
		}
	}
	return nil
}

// mapping returns the keys of the mapping m, in file order.
func mapping(m *yaml.Node) []*yaml.Node {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	keys := make([]*yaml.Node, 0, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		keys = append(keys, m.Content[i])
	}
	return keys
}

// copies counts the YAML nodes compose-go copies while it resolves extends
// that name files: it copies the named file's whole section (its services,
// or jobs, aliases expanded) for every service whose extends chain reaches
// that file, so 1,000 services extending a file of 1,000 services copy a
// million services. Load refuses more than MaxExtendsNodes before the
// loader starts; an extends in the Compose file is counted once per
// service, as the loader keeps what it resolved there.
func (s *sources) copies(env types.Mapping) error {
	left := MaxExtendsNodes
	done := map[string]bool{}
	var walk func(src *source, section, name string, depth int) error
	walk = func(src *source, section, name string, depth int) error {
		if depth > MaxFiles+MaxServices {
			return nil // a cycle: the loader reports it
		}
		if src == s.first {
			if done[section+"."+name] {
				return nil
			}
			done[section+"."+name] = true
		}
		ext := last(src.entries(section, name), "extends")
		switch {
		case ext == nil:
			return nil
		case ext.Kind == yaml.ScalarNode:
			return walk(src, section, interpolate(ext.Value, env), depth+1)
		case ext.Kind != yaml.MappingNode:
			return nil
		}
		service, file := mapValue(ext, "service"), mapValue(ext, "file")
		if service == nil {
			return nil
		}
		if file == nil {
			return walk(src, section, interpolate(service.Value, env), depth+1)
		}
		next, err := s.open(src.abs, interpolate(file.Value, env))
		if err != nil {
			return err
		}
		for _, d := range next.docs() {
			left -= size(mapValue(d, section), left)
		}
		if left < 0 {
			return fmt.Errorf("extends would copy more than %d YAML nodes of other files", MaxExtendsNodes)
		}
		return walk(next, section, interpolate(service.Value, env), depth+1)
	}
	for _, section := range []string{"services", "jobs"} {
		for _, name := range s.first.names(section) {
			if err := walk(s.first, section, name, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// size counts the nodes of n with aliases expanded, stopping past limit.
func size(n *yaml.Node, limit int) int {
	count := 0
	var visit func(n *yaml.Node, depth int)
	visit = func(n *yaml.Node, depth int) {
		if n == nil || count > limit || depth > 10000 {
			return
		}
		count++
		if n.Kind == yaml.AliasNode {
			visit(n.Alias, depth+1)
			return
		}
		for _, c := range n.Content {
			visit(c, depth+1)
		}
	}
	visit(n, 0)
	return count
}

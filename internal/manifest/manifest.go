package manifest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/signet-dev/signet/internal/check"
	"github.com/signet-dev/signet/internal/workload"
)

// The bounds of one file (see the package documentation).
const (
	MaxFileBytes     = 32 << 20
	MaxDocumentBytes = 3 << 20
	MaxDocuments     = 10_000
	MaxObjectJSON    = 8 << 20
	// MaxEncodedJSON bounds the JSON encoded for all the objects of one
	// file together: a List of aliases to one object re-encodes it per
	// alias.
	MaxEncodedJSON = 64 << 20
	MaxDepth       = 1000
	MaxListDepth   = 8
	MaxFindings    = 50_000
)

// ErrLimit is wrapped by every error for an input over a bound.
var ErrLimit = errors.New("over signet check's limits")

// Error is a file that cannot be read as manifests.
type Error struct {
	File string
	Line int // 1-based; 0 when unknown
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Options says which kinds beyond the built-in workloads are read.
type Options struct {
	// Resource returns where the objects of a kind the policy declares
	// keep their images (policy.Engine.Resource); nil, or a nil answer:
	// the kind is not read.
	Resource func(group, version, kind string) *workload.Resource
}

// File is a parsed manifest file. It implements check.File.
type File struct {
	name     string
	data     []byte
	opts     Options
	findings []check.Finding
	spans    []span
}

// span is where a finding's value is in the file.
type span struct {
	start, end int // byte extent of the scalar, quotes included
	style      yaml.Style
	err        error // why the value cannot be rewritten; nil when it can
}

var _ check.File = (*File)(nil)

// Name returns the file's name as given.
func (f *File) Name() string { return f.name }

// Findings returns the file's images in file order.
func (f *File) Findings() []check.Finding { return f.findings }

// Parse reads the manifests in data, the content of the file name.
func Parse(ctx context.Context, name string, data []byte, opts Options) (*File, error) {
	f := &File{name: name, data: data, opts: opts}
	p := &parser{ctx: ctx, f: f, budget: MaxEncodedJSON}
	if err := p.parse(); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, &Error{File: name, Err: err}
	}
	order := make([]int, len(f.findings))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		fa, fb := f.findings[a], f.findings[b]
		if fa.Line != fb.Line {
			return fa.Line - fb.Line
		}
		return fa.Column - fb.Column
	})
	fs, ss := make([]check.Finding, len(order)), make([]span, len(order))
	for i, j := range order {
		fs[i], ss[i] = f.findings[j], f.spans[j]
	}
	f.findings, f.spans = fs, ss
	return f, nil
}

type parser struct {
	ctx    context.Context
	f      *File
	budget int    // JSON bytes left to encode
	buf    []byte // the JSON an object is encoded to, reused
	docs   int
	// The chunk being read: its byte offset and 0-based first line.
	off, line int
	// pending are the findings of the chunk whose extents are not known.
	pending []pending
}

type pending struct {
	index int        // in f.findings
	node  *yaml.Node // the scalar, aliases followed
}

func (p *parser) parse() error {
	data := p.f.data
	switch {
	case len(data) > MaxFileBytes:
		return fmt.Errorf("%w: the file has more than %d bytes", ErrLimit, MaxFileBytes)
	case !utf8.Valid(data):
		return errors.New("not a YAML or JSON file: it is not UTF-8 text")
	}
	for off, line := 0, 0; off < len(data); {
		end, lines := nextChunk(data, off)
		if end-off > MaxDocumentBytes {
			return &Error{File: p.f.name, Line: line + 1, Err: fmt.Errorf("%w: a document of more than %d bytes (the API server refuses larger requests)", ErrLimit, MaxDocumentBytes)}
		}
		p.off, p.line = off, line
		if err := p.chunk(data[off:end]); err != nil {
			return err
		}
		off, line = end, line+lines
	}
	return nil
}

// nextChunk returns the end of the chunk starting at off — the start of
// the next line that begins with a document marker ("---" then a space or
// the line's end), which ends whatever the YAML scanner is reading — and
// the number of lines in it.
func nextChunk(data []byte, off int) (end, lines int) {
	for i := off; i < len(data); {
		nl := bytes.IndexByte(data[i:], '\n')
		if nl < 0 {
			return len(data), lines + 1
		}
		i += nl + 1
		lines++
		if isMarker(data[i:]) {
			return i, lines
		}
	}
	return len(data), lines
}

func isMarker(b []byte) bool {
	return bytes.HasPrefix(b, []byte("---")) && (len(b) == 3 || strings.IndexByte(" \t\r\n", b[3]) >= 0)
}

// yamlLine finds the line in a YAML parser error.
var yamlLine = regexp.MustCompile(`^yaml: line ([0-9]+): `)

func (p *parser) chunk(b []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			msg := err.Error()
			line := p.line + 1
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				n, _ := strconv.Atoi(m[1])
				line = p.line + n
				msg = msg[len(m[0]):]
			}
			return &Error{File: p.f.name, Line: line, Err: fmt.Errorf("not valid YAML or JSON: %s", strings.TrimPrefix(msg, "yaml: "))}
		}
		if p.docs++; p.docs > MaxDocuments {
			return &Error{File: p.f.name, Line: p.line + doc.Line, Err: fmt.Errorf("%w: more than %d documents", ErrLimit, MaxDocuments)}
		}
		if len(doc.Content) == 0 {
			continue
		}
		if err := p.object(doc.Content[0], "", 0); err != nil {
			return err
		}
	}
	return p.locate(b)
}

// object reads one object: a List's items, a workload's images, nothing
// for any other kind. where names a List item ("item 3 of ").
func (p *parser) object(n *yaml.Node, where string, lists int) error {
	if err := p.ctx.Err(); err != nil {
		return err
	}
	n = deref(n)
	switch n.Kind {
	case yaml.SequenceNode:
		return nil
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" || lists > 0 {
			return nil
		}
		return p.errorAt(n, fmt.Errorf("not a YAML or JSON object: %sa %s value", where, n.ShortTag()))
	case yaml.MappingNode:
	default:
		return nil
	}
	enc := &encoder{budget: MaxObjectJSON}
	pairs, err := enc.entries(n, 0)
	if err != nil {
		return p.errorAt(n, err)
	}
	// The fields read before decoding, given once: a reader that kept the
	// other of two kinds would see another object.
	seen := map[string]bool{}
	for _, kv := range pairs {
		if (kv.key == "kind" || kv.key == "apiVersion" || kv.key == "items") && seen[kv.key] {
			return p.errorAt(n, fmt.Errorf("%s%q is given twice", where, kv.key))
		}
		seen[kv.key] = true
	}
	kind := scalarOf(pairs, "kind")
	// kubectl expands the items of any object that has a list of them, not
	// only of kind List; so are they read here, whatever the kind.
	if items := valueOf(pairs, "items"); items != nil && items.Kind == yaml.SequenceNode {
		if lists >= MaxListDepth {
			return p.errorAt(n, fmt.Errorf("%w: Lists nested more than %d deep", ErrLimit, MaxListDepth))
		}
		for i, it := range items.Content {
			if err := p.object(it, fmt.Sprintf("item %d of the %s: %s", i, kind, where), lists+1); err != nil {
				return err
			}
		}
		if strings.HasSuffix(kind, "List") {
			return nil
		}
	}
	var res *workload.Resource
	if !workload.Supported(kind) {
		if p.f.opts.Resource == nil || kind == "" {
			return nil
		}
		group, version, ok := strings.Cut(scalarOf(pairs, "apiVersion"), "/")
		if !ok {
			group, version = "", group
		}
		if res = p.f.opts.Resource(group, version, kind); res == nil {
			return nil
		}
	}
	// The JSON buffer is the file's, reused object after object: decoding
	// copies what it keeps.
	enc.budget, enc.buf = min(MaxObjectJSON, p.budget), p.buf[:0]
	defer func() { p.buf = enc.buf[:0] }()
	if err := enc.node(n, 0); err != nil {
		if p.budget < MaxObjectJSON && errors.Is(err, errTooLarge) {
			err = fmt.Errorf("%w: the file's objects encode to more than %d bytes of JSON", ErrLimit, MaxEncodedJSON)
		}
		return p.errorAt(n, fmt.Errorf("%s%s: %w", where, kind, err))
	}
	p.budget -= len(enc.buf)
	var obj *workload.Object
	if res != nil {
		obj, err = workload.DecodeResource(p.ctx, res, enc.buf)
	} else {
		obj, err = workload.Decode(kind, enc.buf)
	}
	if err != nil {
		return p.errorAt(n, fmt.Errorf("%s%w", where, err))
	}
	for _, img := range obj.Images {
		if len(p.f.findings) >= MaxFindings {
			return p.errorAt(n, fmt.Errorf("%w: more than %d images in the file", ErrLimit, MaxFindings))
		}
		v, parent, err := resolve(n, img.Path)
		if err != nil {
			return p.errorAt(n, fmt.Errorf("%s%s %s: %w", where, kind, img.Path, err))
		}
		fd := check.Finding{
			File: p.f.name, Kind: kind, Name: obj.Metadata.Name, Namespace: obj.Metadata.Namespace,
			Section: string(img.Section), Container: img.Container, Path: img.Path, Image: img.Ref,
		}
		sp := span{start: -1}
		at := parent
		if v != nil {
			at = v
			p.pending = append(p.pending, pending{index: len(p.f.findings), node: v})
		} else {
			sp.err = fmt.Errorf("%s has no image to rewrite", img.Path)
		}
		if at != nil {
			fd.Line, fd.Column = p.line+at.Line, at.Column
		}
		p.f.findings = append(p.f.findings, fd)
		p.f.spans = append(p.f.spans, sp)
	}
	return nil
}

func (p *parser) errorAt(n *yaml.Node, err error) error {
	return &Error{File: p.f.name, Line: p.line + n.Line, Err: err}
}

// locate finds the byte extents of the chunk's pending findings, b being
// the chunk: one pass over its lines, in line order.
func (p *parser) locate(b []byte) error {
	defer func() { p.pending = p.pending[:0] }()
	slices.SortFunc(p.pending, func(x, y pending) int { return x.node.Line - y.node.Line })
	line, off := 1, 0
	for _, pd := range p.pending {
		for line < pd.node.Line {
			nl := bytes.IndexByte(b[off:], '\n')
			if nl < 0 {
				return p.errorAt(pd.node, errors.New("a value past the end of its document"))
			}
			off += nl + 1
			line++
		}
		start := off
		for c := 1; c < pd.node.Column && start < len(b); c++ {
			_, w := utf8.DecodeRune(b[start:])
			start += w
		}
		sp := &p.f.spans[pd.index]
		sp.style = pd.node.Style
		s, e, err := extent(b, start, pd.node)
		if err != nil {
			sp.err = err
			continue
		}
		sp.start, sp.end = p.off+s, p.off+e
	}
	return nil
}

// scalarOf returns the value of the scalar at key, "" if none.
func scalarOf(pairs []pair, key string) string {
	if v := valueOf(pairs, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// valueOf returns the node at key, aliases followed.
func valueOf(pairs []pair, key string) *yaml.Node {
	for _, kv := range pairs {
		if kv.key == key {
			return deref(kv.value)
		}
	}
	return nil
}

package compose

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// Rewrite replaces the written value of each finding in refs by refs[i], in
// the file where the value is written (the Compose file, or the file an
// extends names), keyed by that file's path. Only the bytes of the values
// change, each written in its own quoting (plain, 'single' or "double");
// everything else is kept byte for byte.
//
// A value written with variables ("app:${TAG}") is replaced by the literal
// reference: what was verified is the image the variables named at check
// time, and a variable left in place would let docker compose up in
// another environment run an image nobody checked. A value several
// findings share (a YAML anchor, a base service several services extend)
// is written once; findings that would write it differently are an error.
// A finding with NoPin set is left as it is.
func (f *file) Rewrite(refs map[int]string) (map[string][]byte, error) {
	type edit struct {
		start, end int
		text       string
		path       string
	}
	edits := map[*source][]edit{}
	for _, i := range slices.Sorted(maps.Keys(refs)) {
		if i < 0 || i >= len(f.findings) {
			return nil, fmt.Errorf("%s: no image %d to rewrite", f.name, i)
		}
		fd, at := f.findings[i], f.at[i]
		if fd.NoPin != "" {
			continue
		}
		if at == nil {
			return nil, fmt.Errorf("%s: %s: where the value is written is not known, so it cannot be rewritten", f.name, fd.Path)
		}
		start, end, err := extent(at.src.data, at.node)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", at.src.display, at.node.Line, fd.Path, err)
		}
		text, err := encode(refs[i], at.node.Style)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", at.src.display, at.node.Line, fd.Path, err)
		}
		edits[at.src] = append(edits[at.src], edit{start, end, text, fd.Path})
	}
	out := map[string][]byte{}
	for src, es := range edits {
		slices.SortStableFunc(es, func(a, b edit) int { return a.start - b.start })
		var b bytes.Buffer
		b.Grow(len(src.data) + 80*len(es))
		pos := 0
		for i, e := range es {
			if i > 0 && e.start == es[i-1].start {
				if e.text != es[i-1].text {
					return nil, fmt.Errorf("%s: %s and %s share one written value but pin to %s and %s", src.display, es[i-1].path, e.path, es[i-1].text, e.text)
				}
				continue
			}
			b.Write(src.data[pos:e.start])
			b.WriteString(e.text)
			pos = e.end
		}
		b.Write(src.data[pos:])
		if bytes.Equal(b.Bytes(), src.data) {
			continue
		}
		var check yaml.Node
		if err := yaml.Unmarshal(b.Bytes(), &check); err != nil {
			return nil, fmt.Errorf("%s: the rewritten file does not parse: %w", src.display, err)
		}
		out[src.display] = b.Bytes()
	}
	return out, nil
}

// valueStart returns the byte offset, line and column where the scalar n's
// value starts in data: the parser places a scalar at its anchor or tag
// when it has one.
func valueStart(data []byte, n *yaml.Node) (off, line, col int, err error) {
	start, err := offset(data, n.Line, n.Column)
	if err != nil {
		return 0, 0, 0, err
	}
	off, line, col = start, n.Line, n.Column
	for off < len(data) && (data[off] == '&' || data[off] == '!') {
		for off < len(data) && !isSpace(data[off]) {
			off++
		}
		for off < len(data) && isSpace(data[off]) {
			off++
		}
	}
	if skipped := data[start:off]; len(skipped) > 0 {
		if nl := bytes.LastIndexByte(skipped, '\n'); nl >= 0 {
			line += bytes.Count(skipped, []byte("\n"))
			col = 1 + utf8.RuneCount(skipped[nl+1:])
		} else {
			col += utf8.RuneCount(skipped)
		}
	}
	return off, line, col, nil
}

// extent returns the byte range of the scalar n as written in data.
func extent(data []byte, n *yaml.Node) (int, int, error) {
	off, _, _, err := valueStart(data, n)
	if err != nil {
		return 0, 0, err
	}
	switch n.Style &^ yaml.TaggedStyle {
	case 0:
		if bytes.HasPrefix(data[off:], []byte(n.Value)) {
			return off, off + len(n.Value), nil
		}
	case yaml.SingleQuotedStyle:
		raw := "'" + strings.ReplaceAll(n.Value, "'", "''") + "'"
		if bytes.HasPrefix(data[off:], []byte(raw)) {
			return off, off + len(raw), nil
		}
	case yaml.DoubleQuotedStyle:
		if off < len(data) && data[off] == '"' {
			for i := off + 1; i < len(data); i++ {
				if data[i] == '\\' {
					i++
					continue
				}
				if data[i] == '"' {
					var v string
					if yaml.Unmarshal(data[off:i+1], &v) == nil && v == n.Value {
						return off, i + 1, nil
					}
					break
				}
			}
		}
	default:
		return 0, 0, fmt.Errorf("a block scalar (| or >) cannot be rewritten in place")
	}
	return 0, 0, fmt.Errorf("the value spans lines and cannot be rewritten in place")
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// offset converts a 1-based line and column (in characters, as the YAML
// parser counts) to a byte offset.
func offset(data []byte, line, col int) (int, error) {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data[off:], '\n')
		if i < 0 {
			return 0, fmt.Errorf("line %d is past the end of the file", line)
		}
		off += i + 1
	}
	for c := 1; c < col; c++ {
		if off >= len(data) || data[off] == '\n' {
			return 0, fmt.Errorf("column %d is past the end of line %d", col, line)
		}
		_, size := utf8.DecodeRune(data[off:])
		off += size
	}
	return off, nil
}

// encode writes ref as a scalar of the given style, falling back to double
// quotes when a plain scalar would not read back as ref.
func encode(ref string, style yaml.Style) (string, error) {
	var text string
	switch style &^ yaml.TaggedStyle {
	case yaml.SingleQuotedStyle:
		text = "'" + strings.ReplaceAll(ref, "'", "''") + "'"
	case yaml.DoubleQuotedStyle:
		text = strconv.Quote(ref)
	default:
		text = ref
		if !readsAs(text, ref) {
			text = strconv.Quote(ref)
		}
	}
	if !readsAs(text, ref) {
		return "", fmt.Errorf("%q cannot be written as a YAML scalar", ref)
	}
	return text, nil
}

// readsAs reports whether the scalar text, as a value in a flow mapping,
// reads back as the string want.
func readsAs(text, want string) bool {
	var m map[string]any
	if yaml.Unmarshal([]byte("{k: "+text+"}"), &m) != nil {
		return false
	}
	s, ok := m["k"].(string)
	return ok && s == want
}

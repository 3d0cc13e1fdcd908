package manifest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// extent returns the byte extent of the scalar n's value in b, n's start
// mark being at off (which includes its anchor and tag, when it has
// them): quotes included, and only when the bytes read back as n's value.
func extent(b []byte, off int, n *yaml.Node) (start, end int, err error) {
	i := off
	if n.Anchor != "" || n.Style&yaml.TaggedStyle != 0 || n.Tag != "" && n.Tag != n.ShortTag() {
		// Skip the node's properties: &anchor and !tag, then the spaces,
		// comments and line breaks before the value.
		for i < len(b) && (b[i] == '&' || b[i] == '!') {
			for i < len(b) && !strings.ContainsRune(" \t\r\n", rune(b[i])) {
				i++
			}
			i = skipSpace(b, i)
		}
	}
	if i >= len(b) {
		return 0, 0, errors.New("the value is not where the parser says")
	}
	start, end = i, i
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return 0, 0, errors.New("the image is a block scalar (| or >); write it on one line to have it rewritten")
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if b[i] != '"' {
			return 0, 0, errors.New("the value is not where the parser says")
		}
		for end = i + 1; end < len(b) && b[end] != '"'; end++ {
			if b[end] == '\\' {
				end++
			}
		}
		end++
	case n.Style&yaml.SingleQuotedStyle != 0:
		if b[i] != '\'' {
			return 0, 0, errors.New("the value is not where the parser says")
		}
		for end = i + 1; end < len(b); end++ {
			if b[end] == '\'' {
				if end+1 < len(b) && b[end+1] == '\'' {
					end++
					continue
				}
				break
			}
		}
		end++
	default:
		// A plain scalar ends at the line's end, a comment, or (in flow
		// style, JSON) a comma or closing bracket; an image contains none.
		for end < len(b) && !strings.ContainsRune("\r\n,]}", rune(b[end])) &&
			!(b[end] == '#' && (b[end-1] == ' ' || b[end-1] == '\t')) {
			end++
		}
		for end > start && (b[end-1] == ' ' || b[end-1] == '\t') {
			end--
		}
		if string(b[start:end]) != n.Value {
			return 0, 0, errors.New("the image is a plain value over several lines; write it on one line to have it rewritten")
		}
		return start, end, nil
	}
	if end > len(b) {
		return 0, 0, errors.New("an unterminated quoted value")
	}
	var s string
	if err := yaml.Unmarshal(b[start:end], &s); err != nil || s != n.Value {
		return 0, 0, errors.New("the quoted image does not read back as itself; write it on one line to have it rewritten")
	}
	return start, end, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		case '#':
			for i < len(b) && b[i] != '\n' {
				i++
			}
		default:
			return i
		}
	}
	return i
}

// safeRef reports whether s can be written as a YAML scalar of any style
// without escaping: an image reference's characters only.
func safeRef(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-:/@+", c)) {
			return false
		}
	}
	return true
}

type edit struct {
	start, end int
	text       string
}

// Rewrite returns the file's content with the image of Findings()[i]
// replaced by refs[i], keyed by the file's name, or no entry when nothing
// changes. Only the values' bytes change; a value written in quotes is
// written in the same quotes. Two findings that are the same YAML value
// (an alias) must be given the same reference. The result is parsed again
// and must show every finding at its place with its new image.
func (f *File) Rewrite(refs map[int]string) (map[string][]byte, error) {
	var edits []edit
	for i, ref := range refs {
		if i < 0 || i >= len(f.findings) {
			return nil, fmt.Errorf("%s: no image %d to rewrite", f.name, i)
		}
		fd, sp := f.findings[i], f.spans[i]
		if sp.err != nil || sp.start < 0 {
			err := sp.err
			if err == nil {
				err = errors.New("its place in the file is unknown")
			}
			return nil, fmt.Errorf("%s:%d: cannot rewrite %s: %w", f.name, fd.Line, fd.Image, err)
		}
		if !safeRef(ref) {
			return nil, fmt.Errorf("%s:%d: cannot write %q as an image", f.name, fd.Line, ref)
		}
		text := ref
		switch {
		case sp.style&yaml.DoubleQuotedStyle != 0:
			text = `"` + ref + `"`
		case sp.style&yaml.SingleQuotedStyle != 0:
			text = "'" + ref + "'"
		}
		edits = append(edits, edit{sp.start, sp.end, text})
	}
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	edits = slices.Compact(edits)
	for i := 1; i < len(edits); i++ {
		if edits[i].start < edits[i-1].end {
			return nil, fmt.Errorf("%s: one YAML value (an anchor and its aliases) would be given two images, %s and %s", f.name, edits[i-1].text, edits[i].text)
		}
	}
	var out []byte
	last := 0
	for _, e := range edits {
		out = append(out, f.data[last:e.start]...)
		out = append(out, e.text...)
		last = e.end
	}
	out = append(out, f.data[last:]...)
	if string(out) == string(f.data) {
		return map[string][]byte{}, nil
	}
	// The rewritten file must read as intended: the same images at the
	// same places, the new ones where asked.
	again, err := Parse(context.Background(), f.name, out, f.opts)
	if err != nil {
		return nil, fmt.Errorf("the rewritten file does not parse: %w", err)
	}
	if len(again.findings) != len(f.findings) {
		return nil, fmt.Errorf("%s: the rewritten file has %d images, not %d", f.name, len(again.findings), len(f.findings))
	}
	for i, fd := range f.findings {
		want := fd.Image
		if r, ok := refs[i]; ok {
			want = r
		}
		if got := again.findings[i]; got.Image != want || got.Path != fd.Path || got.Line != fd.Line {
			return nil, fmt.Errorf("%s:%d: the rewritten file has %s at %s, not %s", f.name, got.Line, got.Image, got.Path, want)
		}
	}
	return map[string][]byte{f.name: out}, nil
}

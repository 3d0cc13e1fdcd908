package policyimport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/policy"
)

// Emit writes doc as block-style YAML, in the field order of its Go types,
// with each note as a comment above the field its Path names, or the
// nearest enclosing field that exists (at the top of the document for an
// empty Path, or a path none of whose prefixes exists).
func Emit(doc *policy.Document, notes []Note) ([]byte, error) {
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encoding policy: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(js, &root); err != nil {
		return nil, fmt.Errorf("encoding policy: %w", err)
	}
	blockStyle(&root)
	body := root.Content[0]
	dropEmptyWith(body)
	var top []string
	for _, n := range notes {
		msg := n.Message
		if n.Source != "" {
			msg = n.Source + ": " + msg
		}
		key := findNearest(body, n.Path)
		if key == nil {
			top = append(top, msg)
			continue
		}
		key.HeadComment = joinComment(key.HeadComment, msg)
	}
	if len(top) > 0 {
		body.HeadComment = joinComment(body.HeadComment, strings.Join(top, "\n"))
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, fmt.Errorf("encoding policy: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding policy: %w", err)
	}
	return buf.Bytes(), nil
}

// blockStyle undoes the flow style and double quotes a node decoded from
// JSON carries; the encoder quotes a string only where YAML needs it.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && !plainString(n.Value) {
		n.Style = yaml.SingleQuotedStyle
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// plainString reports whether s, written plain, reads back as the string s
// with the YAML reader policy.Parse uses (sigs.k8s.io/yaml: YAML 1.1,
// where "Y", "on" and "0777" are not strings, though the encoder, YAML
// 1.2, writes them plain).
func plainString(s string) bool {
	if s == "" || strings.Contains(s, "\n") {
		return true // quoted or a block scalar anyway
	}
	if c := s[0]; len(s) > 5 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		// YAML 1.1's words (y, on, false…) are shorter, its numbers start
		// otherwise; what else needs quotes the encoder quotes itself.
		return true
	}
	j, err := sigsyaml.YAMLToJSON([]byte(s))
	if err != nil {
		return false
	}
	var back string
	return json.Unmarshal(j, &back) == nil && back == s
}

// dropEmptyWith removes each rule's "with: {}", which the encoding writes
// for a rule without options.
func dropEmptyWith(body *yaml.Node) {
	rules := find(body, "rules")
	if rules == nil {
		return
	}
	for i := 0; i+1 < len(body.Content); i += 2 {
		if body.Content[i] != rules {
			continue
		}
		for _, r := range body.Content[i+1].Content {
			for j := 0; j+1 < len(r.Content); j += 2 {
				if r.Content[j].Value == "with" && r.Content[j+1].Kind == yaml.MappingNode && len(r.Content[j+1].Content) == 0 {
					r.Content = append(r.Content[:j], r.Content[j+2:]...)
					break
				}
			}
		}
	}
}

// findNearest is find of path, else of its longest prefix that names a
// node (a note on "rules.3.with" goes above rule 3 when the rule has no
// options).
func findNearest(n *yaml.Node, path string) *yaml.Node {
	for path != "" {
		if at := find(n, path); at != nil {
			return at
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return nil
		}
		path = path[:i]
	}
	return nil
}

// find returns the node a note on path goes above: the key of a mapping
// field, or the item of a list; nil when path names nothing.
func find(n *yaml.Node, path string) *yaml.Node {
	if path == "" {
		return nil
	}
	var at *yaml.Node
	for _, part := range strings.Split(path, ".") {
		switch n.Kind {
		case yaml.MappingNode:
			at = nil
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					at, n = n.Content[i], n.Content[i+1]
					break
				}
			}
			if at == nil {
				return nil
			}
		case yaml.SequenceNode:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil
			}
			at, n = n.Content[i], n.Content[i]
		default:
			return nil
		}
	}
	return at
}

func joinComment(old, msg string) string {
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		lines[i] = "NOTE: " + l
	}
	msg = strings.Join(lines, "\n")
	if old == "" {
		return msg
	}
	return old + "\n" + msg
}

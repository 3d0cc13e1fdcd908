package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"strings"

	"sigs.k8s.io/yaml"
)

// MaxDocumentBytes bounds the size of a policy document.
const MaxDocumentBytes = 4 << 20

// Load reads and parses the policy file at path.
func Load(path string) (*Document, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := Parse(data)
	if ie, ok := errors.AsType[*InvalidError](err); ok {
		ie.Source = path
	}
	return doc, err
}

// readFile reads a policy file, MaxDocumentBytes and one more byte at
// most (Parse reports a larger one).
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxDocumentBytes+1)); err != nil {
		return nil, fmt.Errorf("reading policy %s: %w", path, err)
	}
	return buf.Bytes(), nil
}

// Parse decodes a policy document from YAML (or JSON). Decoding is strict:
// unknown fields, duplicate keys and values of the wrong type are errors,
// each reported with its field path and its line and column. Parse checks
// the document's shape; Compile checks its meaning (and reports the line
// and column of what it finds too, for a document from Parse). When a
// field has the wrong type or is unknown, Parse checks the meaning of the
// rest of the document too, as Lint does (offline: no Secret or key the
// policy names is read), so that one run reports every problem.
func Parse(data []byte) (*Document, error) {
	doc, p := parse(data)
	if len(p) > 0 {
		if doc != nil {
			p = withMeaning(doc, p)
		}
		return nil, p.err()
	}
	return doc, nil
}

// parse decodes data and returns the problems of its shape, located. When
// the only problems are fields of the wrong type or unknown, the document
// is returned too, decoded without them, so that its meaning can still be
// checked (Lint); otherwise the document is nil.
func parse(data []byte) (*Document, problems) {
	var p problems
	if len(data) > MaxDocumentBytes {
		p.add("", "policy is larger than %d bytes", MaxDocumentBytes)
		return nil, p
	}
	if len(bytes.TrimSpace(data)) == 0 {
		p.add("", "policy is empty")
		return nil, p
	}
	if n := documents(data); n > 1 {
		p.add("", "the file holds %d YAML documents; a policy is exactly one (remove the extra \"---\" sections)", n)
		return nil, p
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		p.add("", "not valid YAML: %v", err)
		p[0].Line = syntaxLine(data, err)
		return nil, p
	}
	var raw any
	if err := json.Unmarshal(j, &raw); err != nil {
		p.add("", "not valid YAML: %v", err)
		return nil, p
	}
	src := newSource(data)
	if !checkShape(raw, reflect.TypeFor[Document](), "", &p) {
		src.locate(p)
		sortByPosition(p)
		return nil, p
	}
	if len(p) > 0 {
		// checkShape removed what does not fit.
		if j, err = json.Marshal(raw); err != nil {
			p.add("", "decoding: %v", err)
			return nil, p
		}
	}
	doc := Document{src: src}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		// checkShape accepts only what decodes; this is a safety net.
		p.add("", "decoding: %v", err)
		return nil, p
	}
	src.locate(p)
	sortByPosition(p)
	return &doc, p
}

// documents counts the non-empty YAML documents in data, separated by
// "---" lines. YAML decoders read the first and drop the rest silently; a
// policy split across documents would lose rules without a word.
func documents(data []byte) int {
	n, content := 0, false
	for _, line := range strings.Split(string(data), "\n") {
		t := strings.TrimRight(line, " \t\r")
		if t == "---" || strings.HasPrefix(t, "--- ") {
			if content {
				n++
			}
			content = strings.TrimSpace(strings.TrimPrefix(t, "---")) != ""
			continue
		}
		if s := strings.TrimSpace(t); s != "" && !strings.HasPrefix(s, "#") && s != "..." {
			content = true
		}
	}
	if content {
		n++
	}
	return n
}

// checkShape walks a decoded JSON value against the Go type it will decode
// into, reporting unknown fields and type mismatches with their paths, and
// removes them (a list item becomes null, keeping the indexes of the
// others), so that what is left decodes. It returns false when v itself
// does not fit t.
func checkShape(v any, t reflect.Type, path string, p *problems) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return true // null: the zero value
	}
	field := path
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			p.add(field, "expected an object, got %s", jsonKind(v))
			return false
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			ft, ok := fields[k]
			if !ok {
				p.addKey(join(path, k), "unknown field%s", suggest(k, fields))
				delete(m, k)
				continue
			}
			if !checkShape(m[k], ft, join(path, k), p) {
				delete(m, k)
			}
		}
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			p.add(field, "expected a list, got %s", jsonKind(v))
			return false
		}
		for i, e := range s {
			if !checkShape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), p) {
				s[i] = nil
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			p.add(field, "expected a string, got %s", jsonKind(v))
			return false
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			p.add(field, "expected true or false, got %s", jsonKind(v))
			return false
		}
	case reflect.Int:
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
			p.add(field, "expected a whole number, got %s", jsonKind(v))
			return false
		}
	}
	return true
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out[name] = f.Type
	}
	return out
}

func jsonKind(v any) string {
	switch x := v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("the string %q", truncate(x, 40))
	case bool:
		return fmt.Sprintf("%t", x)
	case float64:
		return fmt.Sprintf("the number %v", x)
	}
	return fmt.Sprintf("%T", v)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// suggest proposes a known field differing only in case, the most common
// slip ("trustroot" for "trustRoot").
func suggest(k string, fields map[string]reflect.Type) string {
	for f := range fields {
		if strings.EqualFold(f, k) {
			return fmt.Sprintf(" (did you mean %q?)", f)
		}
	}
	return ""
}

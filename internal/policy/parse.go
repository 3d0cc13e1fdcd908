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
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading policy: %w", err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, MaxDocumentBytes+1)); err != nil {
		return nil, fmt.Errorf("reading policy %s: %w", path, err)
	}
	doc, err := Parse(buf.Bytes())
	if ie, ok := errors.AsType[*InvalidError](err); ok {
		ie.Source = path
	}
	return doc, err
}

// Parse decodes a policy document from YAML (or JSON). Decoding is strict:
// unknown fields, duplicate keys and values of the wrong type are errors,
// each reported with its field path. Parse checks the document's shape
// only; Compile checks its meaning.
func Parse(data []byte) (*Document, error) {
	var p problems
	if len(data) > MaxDocumentBytes {
		p.add("", "policy is larger than %d bytes", MaxDocumentBytes)
		return nil, p.err()
	}
	if len(bytes.TrimSpace(data)) == 0 {
		p.add("", "policy is empty")
		return nil, p.err()
	}
	if n := documents(data); n > 1 {
		p.add("", "the file holds %d YAML documents; a policy is exactly one (remove the extra \"---\" sections)", n)
		return nil, p.err()
	}
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		p.add("", "not valid YAML: %v", err)
		return nil, p.err()
	}
	var raw any
	if err := json.Unmarshal(j, &raw); err != nil {
		p.add("", "not valid YAML: %v", err)
		return nil, p.err()
	}
	checkShape(raw, reflect.TypeFor[Document](), "", &p)
	if len(p) > 0 {
		return nil, p.err()
	}
	var doc Document
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		// checkShape accepts only what decodes; this is a safety net.
		p.add("", "decoding: %v", err)
		return nil, p.err()
	}
	return &doc, nil
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
// into, reporting unknown fields and type mismatches with their paths.
func checkShape(v any, t reflect.Type, path string, p *problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if v == nil {
		return // null: the zero value
	}
	field := path
	switch t.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			p.add(field, "expected an object, got %s", jsonKind(v))
			return
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			ft, ok := fields[k]
			if !ok {
				p.add(join(path, k), "unknown field%s", suggest(k, fields))
				continue
			}
			checkShape(m[k], ft, join(path, k), p)
		}
	case reflect.Slice:
		s, ok := v.([]any)
		if !ok {
			p.add(field, "expected a list, got %s", jsonKind(v))
			return
		}
		for i, e := range s {
			checkShape(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), p)
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			p.add(field, "expected a string, got %s", jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			p.add(field, "expected true or false, got %s", jsonKind(v))
		}
	case reflect.Int:
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
			p.add(field, "expected a whole number, got %s", jsonKind(v))
		}
	}
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

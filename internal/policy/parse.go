package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
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
	data, err := readBounded(f)
	if err != nil {
		return nil, fmt.Errorf("reading policy %s: %w", path, err)
	}
	return data, nil
}

// readBounded reads r to its end, MaxDocumentBytes and one more byte at
// most.
func readBounded(r io.Reader) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(io.LimitReader(r, MaxDocumentBytes+1))
	return buf.Bytes(), err
}

// Parse decodes a policy document from YAML (or JSON). Decoding is strict:
// unknown fields, duplicate keys and values of the wrong type are errors,
// each reported with its field path and its line and column. Parse checks
// the document's shape; Compile checks its meaning (and reports the line
// and column of what it finds too, for a document from Parse). When a
// field has the wrong type or is unknown, Parse checks the meaning of the
// rest of the document too, as Lint does (offline: no Secret or key the
// policy names is read), so that one run reports every problem.
//
// A file holds the policy's fields at its top level, kind ImagePolicy or
// ClusterImagePolicy alike: either way it is the cluster policy. A
// Kubernetes object (metadata, spec, status) is for Lint and the cluster.
func Parse(data []byte) (*Document, error) {
	doc, p := parse(data, false)
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
// checked (Lint); otherwise the document is nil. With objects set, data
// may also be a ClusterImagePolicy or ImagePolicy resource as the
// Kubernetes API holds it (apiVersion, kind, metadata, spec, status): its
// spec is checked, the field paths of its problems begin with "spec.",
// its metadata other than the name and its status are ignored.
func parse(data []byte, objects bool) (*Document, problems) {
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
	if m, ok := raw.(map[string]any); ok && m["spec"] != nil {
		if objects {
			return parseObject(m, src)
		}
		p.addKey("spec", "a policy file holds the spec's fields (validators, rules…) at its top level, beside apiVersion and kind; a Kubernetes resource (metadata, spec, status) is checked by signet policy lint and applied to the cluster")
		src.locate(p)
		return nil, p
	}
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
	if err := decodeStrict(j, &doc); err != nil {
		p.add("", "%v", err)
		return nil, p
	}
	src.locate(p)
	sortByPosition(p)
	return &doc, p
}

// object is the shape of a ClusterImagePolicy or ImagePolicy resource as
// the Kubernetes API holds it; package policy/v1alpha1 has the API types.
type object struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   any    `json:"metadata,omitempty"`
	Spec       Spec   `json:"spec"`
	Status     any    `json:"status,omitempty"`
}

// parseObject is parse for a resource m: its spec is the Document's.
func parseObject(m map[string]any, src *source) (*Document, problems) {
	var p problems
	if !checkShape(m, reflect.TypeFor[object](), "", &p) {
		src.locate(p)
		sortByPosition(p)
		return nil, p
	}
	var name string
	switch md := m["metadata"].(type) {
	case nil:
	case map[string]any:
		if n, ok := md["name"].(string); ok {
			name = n
		} else if md["name"] != nil {
			p.add("metadata.name", "expected a string, got %s", jsonKind(md["name"]))
		}
	default:
		p.add("metadata", "expected an object, got %s", jsonKind(md))
	}
	j, err := json.Marshal(m)
	if err != nil {
		p.add("", "decoding: %v", err)
		return nil, p
	}
	var o object
	if err := decodeStrict(j, &o); err != nil {
		p.add("", "%v", err)
		return nil, p
	}
	src.locate(p)
	sortByPosition(p)
	// The paths of what is found from now on (Compile's) are the
	// Document's: locate puts them under spec.
	src.object = true
	if md, ok := m["metadata"].(map[string]any); ok && o.Kind == Kind {
		src.namespace, _ = md["namespace"].(string)
	}
	return &Document{APIVersion: o.APIVersion, Kind: o.Kind, Metadata: Metadata{Name: name}, Spec: o.Spec, src: src}, p
}

// ResourceDocument is the Document of a ClusterImagePolicy or ImagePolicy
// resource (kind), read from the API (package policy/v1alpha1): Compile
// reports its problems with the resource's field paths ("spec.rules[0]…"),
// without lines. spec is not copied: the caller gives one it will not
// modify.
func ResourceDocument(kind, name string, spec Spec) *Document {
	return &Document{APIVersion: APIVersion, Kind: kind, Metadata: Metadata{Name: name}, Spec: spec, src: &source{object: true}}
}

// decodeStrict decodes JSON that checkShape has accepted (or cleaned).
func decodeStrict(j []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		// checkShape accepts only what decodes; this is a safety net.
		return fmt.Errorf("decoding: %w", err)
	}
	return nil
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
	if t == reflect.TypeFor[Platforms]() {
		return checkPlatformsShape(v, path, p)
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

// jsonFields returns the JSON fields of struct type t, those of embedded
// structs (Document's Spec) among them, as encoding/json decodes them.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			maps.Copy(out, jsonFields(f.Type))
			continue
		}
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

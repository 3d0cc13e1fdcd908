package workload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Field is the Section of an image found at a JSON pointer an expression
// returned; its Container is the pointer.
const Field Section = "field"

// PathFinder returns the JSON pointers of image fields in an object (a
// compiled CEL expression, attest.Paths); when there are more than max, it
// may return only the first max+1.
type PathFinder interface {
	Eval(ctx context.Context, raw []byte, max int) ([]string, error)
}

// Resource says where the objects of a kind beyond the built-in ones (a
// custom resource) keep their images.
type Resource struct {
	// Kind is the object's kind, for messages.
	Kind string
	// PodTemplates are the JSON pointers of PodTemplateSpecs: each one's
	// images are found as in a Deployment's template.
	PodTemplates []string
	// Expressions return the JSON pointers of image fields; each must name
	// a string.
	Expressions []PathFinder
}

// CheckPointer checks the syntax of a JSON pointer (RFC 6901) naming a
// field within an object: "/spec/template", "/spec/steps/0/image".
func CheckPointer(p string) error {
	switch {
	case p == "":
		return errors.New("is empty; a JSON pointer starts with '/' (\"/spec/template\")")
	case p[0] != '/':
		return fmt.Errorf("%q is not a JSON pointer: it must start with '/' (\"/spec/template\", not \"spec.template\")", p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '~' && (i+1 == len(p) || (p[i+1] != '0' && p[i+1] != '1')) {
			return fmt.Errorf("%q is not a JSON pointer: '~' must be followed by 0 or 1 (\"~0\" is '~', \"~1\" is '/')", p)
		}
	}
	return nil
}

// tokens splits a pointer checked by CheckPointer into its unescaped
// reference tokens.
func tokens(p string) []string {
	ts := strings.Split(p[1:], "/")
	for i, t := range ts {
		ts[i] = strings.NewReplacer("~1", "/", "~0", "~").Replace(t)
	}
	return ts
}

// DecodeResource reads the images of an object of a declared kind: those of
// every PodTemplateSpec at res.PodTemplates (a template that is absent or
// null has none), and the strings at the pointers res.Expressions return.
// A pointer that does not name a string (absent, or another JSON type) is
// an error, never skipped: an image the policy's author pointed at must not
// go unverified because the object's author moved it. Images count toward
// MaxImages together, as in the built-in kinds.
func DecodeResource(ctx context.Context, res *Resource, raw []byte) (*Object, error) {
	limits := getLimits()
	defer putLimits(limits)
	// Validates the whole object (syntax, UTF-8, duplicate names) and reads
	// its metadata.
	var o struct {
		Metadata *Metadata `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &o, limits.opts); err != nil {
		return nil, decodeError(res.Kind, err)
	}
	obj := &Object{Kind: res.Kind}
	if o.Metadata != nil {
		obj.Metadata = *o.Metadata
	}
	seen := map[string]bool{}
	for _, ptr := range res.PodTemplates {
		t, err := podTemplateAt(raw, res.Kind, ptr, limits)
		if err != nil {
			return nil, err
		}
		if t == nil || t.Spec == nil {
			continue
		}
		ps := t.Spec
		base := ptr + "/spec"
		for _, img := range slices.Concat(walk(base, Containers, ps.Containers), walk(base, InitContainers, ps.InitContainers),
			walk(base, EphemeralContainers, ps.EphemeralContainers), imageVolumes(base, ps.Volumes)) {
			if !seen[img.Path] {
				seen[img.Path] = true
				obj.Images = append(obj.Images, img)
			}
		}
		if obj.ServiceAccount == "" {
			obj.ServiceAccount = ps.ServiceAccountName
			if obj.ServiceAccount == "" {
				obj.ServiceAccount = ps.ServiceAccount
			}
		}
		for _, s := range ps.ImagePullSecrets {
			if s.Name != "" {
				obj.PullSecrets = append(obj.PullSecrets, s.Name)
			}
		}
	}
	var ptrs []string
	for _, e := range res.Expressions {
		ps, err := e.Eval(ctx, raw, MaxImages-len(obj.Images)-len(ptrs))
		if err != nil {
			return nil, fmt.Errorf("finding the images of the %s: %w", res.Kind, err)
		}
		if len(obj.Images)+len(ptrs)+len(ps) > MaxImages {
			return nil, fmt.Errorf("the %s has more than %d images (its pod templates' and the paths its expressions return together), %w: an object over them cannot be verified", res.Kind, MaxImages, ErrTooManyImages)
		}
		for _, p := range ps {
			if err := CheckPointer(p); err != nil {
				return nil, fmt.Errorf("finding the images of the %s: an expression returned a path that %v", res.Kind, err)
			}
			if !seen[p] {
				seen[p] = true
				ptrs = append(ptrs, p)
			}
		}
	}
	if len(ptrs) > 0 {
		imgs, err := stringsAt(raw, ptrs)
		if err != nil {
			return nil, err
		}
		obj.Images = append(obj.Images, imgs...)
	}
	if err := checkImages(obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// podTemplateAt decodes the PodTemplateSpec at ptr, counting its images
// into limits while it is decoded; nil when ptr names nothing or null.
func podTemplateAt(raw []byte, kind, ptr string, limits *decodeLimits) (*templateRef, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(raw))
	found, err := seek(dec, tokens(ptr))
	if err != nil || !found {
		return nil, err
	}
	var t *templateRef
	if err := json.UnmarshalDecode(dec, &t, limits.opts); err != nil {
		if _, ok := errors.AsType[*limitError](err); ok {
			return nil, decodeError(kind, err)
		}
		return nil, fmt.Errorf("the pod template at %s: %w", ptr, err)
	}
	return t, nil
}

// seek moves dec to the value at the pointer tokens ts, reading nothing
// but what lies before it; false when there is none.
func seek(dec *jsontext.Decoder, ts []string) (bool, error) {
	for _, t := range ts {
		switch dec.PeekKind() {
		case '{':
			if _, err := dec.ReadToken(); err != nil {
				return false, err
			}
			for {
				if dec.PeekKind() == '}' {
					return false, nil
				}
				name, err := dec.ReadToken()
				if err != nil {
					return false, err
				}
				if name.String() == t {
					break
				}
				if err := dec.SkipValue(); err != nil {
					return false, err
				}
			}
		case '[':
			n, ok := index(t)
			if _, err := dec.ReadToken(); err != nil || !ok {
				return false, err
			}
			for ; n > 0; n-- {
				if dec.PeekKind() == ']' {
					return false, nil
				}
				if err := dec.SkipValue(); err != nil {
					return false, err
				}
			}
			if dec.PeekKind() == ']' {
				return false, nil
			}
		default:
			return false, nil
		}
	}
	return true, nil
}

// index is pointer token t as a list index ("0", "12"; not "01" or "-").
func index(t string) (int, bool) {
	if t == "" || (len(t) > 1 && t[0] == '0') {
		return 0, false
	}
	n, err := strconv.Atoi(t)
	return n, err == nil && n >= 0 && strconv.Itoa(n) == t
}

// trie holds the pointers looked up in one pass over an object.
type trie struct {
	children map[string]*trie
	leaf     bool
	found    bool   // a value was read at this leaf
	kind     byte   // its JSON kind
	value    string // a string value, unquoted
}

// stringsAt reads the strings at ptrs in one pass over raw: an image for
// each, or an error naming the first pointer that names no string.
func stringsAt(raw []byte, ptrs []string) ([]Image, error) {
	root := &trie{}
	leaves := make([]*trie, len(ptrs))
	for i, p := range ptrs {
		n := root
		for _, t := range tokens(p) {
			if n.children == nil {
				n.children = map[string]*trie{}
			}
			c := n.children[t]
			if c == nil {
				c = &trie{}
				n.children[t] = c
			}
			n = c
		}
		n.leaf = true
		leaves[i] = n
	}
	if err := root.visit(jsontext.NewDecoder(bytes.NewReader(raw))); err != nil {
		return nil, err
	}
	imgs := make([]Image, len(ptrs))
	for i, n := range leaves {
		switch {
		case !n.found:
			return nil, fmt.Errorf("image path %s names no field of the object; an expression's paths must each name an image string", ptrs[i])
		case n.kind != '"':
			return nil, fmt.Errorf("image path %s names %s, not an image string", ptrs[i], kindName(n.kind))
		}
		imgs[i] = Image{Path: ptrs[i], Section: Field, Container: ptrs[i], Ref: n.value}
	}
	return imgs, nil
}

// kindName names a JSON kind in messages.
func kindName(k byte) string {
	switch k {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// visit reads the value dec is at, descending only into the members and
// elements n has children for.
func (n *trie) visit(dec *jsontext.Decoder) error {
	if n.leaf {
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		n.found, n.kind = true, byte(v.Kind())
		if v.Kind() == '"' {
			s, err := jsontext.AppendUnquote(nil, v)
			if err != nil {
				return err
			}
			n.value = string(s)
		}
		return nil
	}
	kind := dec.PeekKind()
	if kind != '{' && kind != '[' {
		return dec.SkipValue()
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for i := 0; ; i++ {
		switch dec.PeekKind() {
		case '}', ']':
			_, err := dec.ReadToken()
			return err
		case 0:
			_, err := dec.ReadToken()
			return err
		}
		var key string
		if kind == '{' {
			name, err := dec.ReadToken()
			if err != nil {
				return err
			}
			key = name.String()
		} else {
			key = strconv.Itoa(i)
		}
		c := n.children[key]
		if c == nil {
			if err := dec.SkipValue(); err != nil {
				return err
			}
			continue
		}
		if err := c.visit(dec); err != nil {
			return err
		}
	}
}

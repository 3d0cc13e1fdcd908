package policy

import (
	"fmt"
	"strings"
)

// FieldError is one problem with a policy, located by its field path
// ("rules[2].validator") and, when the policy was parsed from text, by the
// line and column (1-based) of the field's YAML node — of its nearest
// ancestor when the field is missing.
type FieldError struct {
	Field  string `json:"field"`
	Msg    string `json:"message"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`

	key bool // the problem is the field's name (unknown): locate its key
}

func (e FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.Line > 0 && e.Column > 0:
		fmt.Fprintf(&b, "%d:%d: ", e.Line, e.Column)
	case e.Line > 0:
		fmt.Fprintf(&b, "%d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// InvalidError lists every problem found in a policy.
type InvalidError struct {
	Source string // file name, when known
	Errs   []FieldError
}

func (e *InvalidError) Error() string {
	var b strings.Builder
	b.WriteString("invalid policy")
	if e.Source != "" {
		b.WriteString(" " + e.Source)
	}
	if len(e.Errs) == 1 {
		b.WriteString(": " + e.Errs[0].Error())
		return b.String()
	}
	b.WriteString(":")
	for _, fe := range e.Errs {
		b.WriteString("\n  " + fe.Error())
	}
	return b.String()
}

// problems collects FieldErrors.
type problems []FieldError

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
}

// addKey adds a problem with a field's name rather than its value.
func (p *problems) addKey(field, format string, args ...any) {
	p.add(field, format, args...)
	(*p)[len(*p)-1].key = true
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &InvalidError{Errs: p}
}

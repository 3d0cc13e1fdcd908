package policy

import (
	"fmt"
	"strings"
)

// FieldError is one problem with a policy, located by its field path
// ("rules[2].validator").
type FieldError struct {
	Field string
	Msg   string
}

func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
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

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &InvalidError{Errs: p}
}

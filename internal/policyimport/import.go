package policyimport

import (
	"fmt"
	"slices"
	"sort"

	"github.com/signet-dev/signet/internal/policy"
)

// Input is one file to convert.
type Input struct {
	// Name is the file's path, used in notes and errors.
	Name string
	Data []byte
}

// Note is a construct with no exact equivalent in signet, or one converted
// with a difference the user should review.
type Note struct {
	// Path is the field of the output the note concerns, dot-separated
	// with list indices ("validators.1.trustRoots.0", "rules.3"); empty
	// for the document itself.
	Path string
	// Source locates the construct in the input ("values.yaml:
	// application.alerting").
	Source string
	// Message says what was not converted, or how it differs.
	Message string
}

// Converter turns one tool's policies into a signet policy.
type Converter func(in []Input) (*policy.Document, []Note, error)

// converters by tool name, as signet import spells them.
var converters = map[string]Converter{}

// register adds a converter; each converter's file calls it from init.
func register(tool string, c Converter) {
	if _, dup := converters[tool]; dup {
		panic("policyimport: converter " + tool + " registered twice")
	}
	converters[tool] = c
}

// Tools lists the tools Import converts from.
func Tools() []string {
	out := make([]string, 0, len(converters))
	for t := range converters {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Result is a converted policy.
type Result struct {
	// Policy is the signet policy as YAML, each note a comment in it.
	Policy []byte
	// Notes are the constructs to review, in document order.
	Notes []Note
}

// Import converts in from tool's format. The error is for input that
// cannot be read as that tool's policy at all; what cannot be converted
// exactly is a note.
func Import(tool string, in []Input) (*Result, error) {
	c, ok := converters[tool]
	if !ok {
		return nil, fmt.Errorf("unknown tool %q: signet import converts from %v", tool, Tools())
	}
	doc, notes, err := c(in)
	if err != nil {
		return nil, err
	}
	if doc.APIVersion == "" {
		doc.APIVersion = policy.APIVersion
	}
	if doc.Kind == "" {
		doc.Kind = policy.Kind
	}
	out, err := Emit(doc, notes)
	if err != nil {
		return nil, err
	}
	return &Result{Policy: out, Notes: slices.Clone(notes)}, nil
}

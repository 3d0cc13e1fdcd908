package attest

import (
	"context"
	"fmt"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/traits"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
)

// Paths is a compiled CEL expression over a Kubernetes object (the
// variable object, its JSON as a dynamic value) that returns the JSON
// pointers (RFC 6901) of the object's image fields, as a policy's
// resources[].images[].expression does:
//
//	object.spec.steps.transformList(i, s, "/spec/steps/" + string(i) + "/image")
//
// It runs in the environment of attestation conditions (same libraries,
// cost limits and lazy JSON reading), plus cel-go's two-variable
// comprehensions, which give list indices. Immutable and safe for
// concurrent use.
type Paths struct {
	expr string
	prog cel.Program
}

// MaxObjectSteps bounds the work of one image-path expression walking its
// object, as MaxPredicateSteps does for conditions but lower: each object
// member or list element passed over is a step, and each costs a few
// hundred bytes of CEL values while the expression runs. A real object's
// images are found in a few thousand steps (a Tekton Pipeline of 50 tasks
// of 10 steps, each step's members looked through, is some 5,000); the
// bound keeps what one expression allocates on the largest object an
// AdmissionReview carries (7 MiB, hundreds of thousands of list entries)
// to some 30 MiB beyond the object's index (8 bytes per JSON token). An
// expression that exceeds it fails, and the object is denied.
const MaxObjectSteps = 50_000

func newPathsEnv() (*cel.Env, error) {
	return cel.NewEnv(envOptions(
		cel.Variable("object", cel.DynType),
		ext.TwoVarComprehensions(),
	)...)
}

var pathsEnv = sync.OnceValues(newPathsEnv)

// CompilePaths parses and type-checks expr: it must return a list of
// strings, and its estimated cost (on an object whose lists, maps and
// strings hold EstimatedSize entries or bytes) must stay within
// StaticCostLimit.
func CompilePaths(expr string) (*Paths, error) {
	e, err := pathsEnv()
	if err != nil { // a bug, not a policy error
		return nil, fmt.Errorf("CEL environment: %w", err)
	}
	prog, err := compileAs(e, expr, cel.ListType(cel.StringType), "an object")
	if err != nil {
		return nil, err
	}
	return &Paths{expr: expr, prog: prog}, nil
}

// Eval evaluates the expression over raw, a JSON object already validated
// (valid UTF-8, no duplicate names), and returns the pointers it lists, or
// an error. A list longer than max is cut after max+1 entries: the caller
// sees that it is over its bound without more being converted. raw is read lazily through an index of 8 bytes per
// JSON token; the evaluation is bounded by RuntimeCostLimit and
// MaxPredicateSteps, and stops when ctx is done.
func (p *Paths) Eval(ctx context.Context, raw []byte, max int) ([]string, error) {
	t, err := buildTape(ctx, raw)
	if err != nil {
		return nil, err
	}
	r := &reader{t: t, limit: MaxObjectSteps}
	act, err := interpreter.NewActivation(map[string]any{"object": r.value(0)})
	if err != nil {
		return nil, err
	}
	out, _, err := p.prog.ContextEval(ctx, act)
	switch {
	case r.exceeded:
		return nil, fmt.Errorf("reading the object took more than %d steps", MaxObjectSteps)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("evaluation stopped: %w", ctx.Err())
	case err != nil:
		return nil, err
	}
	l, ok := out.(traits.Lister)
	if !ok {
		return nil, fmt.Errorf("evaluated to %s, not a list of JSON pointers", out.Type().TypeName())
	}
	n, ok := l.Size().(types.Int)
	if !ok {
		return nil, fmt.Errorf("evaluated to a list of unknown size")
	}
	paths := make([]string, 0, min(int(n), max+1))
	for it := l.Iterator(); it.HasNext() == types.True && len(paths) <= max; {
		v := it.Next()
		s, ok := v.(types.String)
		if !ok {
			return nil, fmt.Errorf("returned a %s, not a JSON pointer string", v.Type().TypeName())
		}
		paths = append(paths, string(s))
	}
	return paths, nil
}

// String returns the expression.
func (p *Paths) String() string { return p.expr }

package attest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/checker"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
)

const (
	// RuntimeCostLimit bounds the CEL cost of evaluating one condition
	// against one statement: evaluation stops there and the condition
	// fails. It is the Kubernetes API server's budget for the rules of one
	// ValidatingAdmissionPolicy binding (RuntimeCELCostBudget), enough for a
	// condition over every component of a 50 MiB SBOM.
	RuntimeCostLimit = 10_000_000
	// StaticCostLimit bounds a condition's estimated worst-case cost when the
	// policy loads; one above it is rejected. A statement has no schema, so
	// the estimate takes every list, map and string read from it to hold
	// EstimatedSize entries or bytes: what the limit rejects is an
	// expression too costly even on such a statement (loops over the
	// predicate three deep, string work on long strings in a double loop,
	// loops over large literals). Larger statements are bounded by
	// RuntimeCostLimit on their real size.
	StaticCostLimit = 10_000_000
	// EstimatedSize is the size the static estimate gives every list, map
	// or string read from a statement.
	EstimatedSize = 256
	// MaxExpressionLength bounds one expression, in code points.
	MaxExpressionLength = 10_000
	// interruptCheckFrequency is how many comprehension iterations pass
	// between two looks at the context's cancellation.
	interruptCheckFrequency = 100
)

// Condition is one CEL expression of an attestation requirement and the
// message that describes what it checks (used when it fails).
type Condition struct {
	Expression string
	Message    string
}

// Conditions is a compiled, immutable, concurrency-safe set of conditions.
// The zero set (no conditions) holds for every statement without reading
// its predicate.
type Conditions struct {
	conds []Condition
	progs []cel.Program
}

// newEnv is the CEL environment of every condition: the variables, and the
// options Kubernetes sets for its admission CEL (k8s.io/apiserver/pkg/cel/
// environment, 1.29 and later) with cel-go's own strings, lists, regex and
// sets libraries (see doc.go for why not Kubernetes' library package).
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(envOptions(
		cel.Variable("predicate", cel.DynType),
		cel.Variable("statement", cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable("image", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("signer", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("now", cel.TimestampType),
	)...)
}

// envOptions are the options of signet's CEL environments besides their
// variables (vars).
func envOptions(vars ...cel.EnvOption) []cel.EnvOption {
	return append(vars,
		cel.HomogeneousAggregateLiterals(),
		cel.EagerlyValidateDeclarations(true),
		cel.DefaultUTCTimeZone(true),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(ext.StringsVersion(2)),
		ext.Sets(),
		ext.Lists(ext.ListsVersion(3)),
		ext.Regex(),
		urls(),
		cel.ASTValidators(
			cel.ValidateDurationLiterals(),
			cel.ValidateTimestampLiterals(),
			cel.ValidateRegexLiterals(),
			cel.ValidateHomogeneousAggregateLiterals(),
		),
		cel.CostEstimatorOptions(checker.PresenceTestHasCost(false)),
		cel.ParserExpressionSizeLimit(MaxExpressionLength),
	)
}

var env = sync.OnceValues(newEnv)

// Compile parses and type-checks every condition. errs is nil when all
// compile; otherwise errs[i] is nil or what is wrong with conds[i] (a syntax
// error, an unknown variable or function, a result that is not a bool, an
// estimated cost over StaticCostLimit), and the set is nil.
func Compile(conds []Condition) (*Conditions, []error) {
	e, err := env()
	if err != nil { // a bug, not a policy error
		errs := make([]error, len(conds))
		for i := range errs {
			errs[i] = fmt.Errorf("CEL environment: %w", err)
		}
		return nil, errs
	}
	c := &Conditions{conds: slices.Clone(conds), progs: make([]cel.Program, len(conds))}
	var errs []error
	for i, cond := range conds {
		p, err := compile(e, cond.Expression)
		if err != nil {
			if errs == nil {
				errs = make([]error, len(conds))
			}
			errs[i] = err
			continue
		}
		c.progs[i] = p
	}
	if errs != nil {
		return nil, errs
	}
	return c, nil
}

func compile(e *cel.Env, expr string) (cel.Program, error) {
	return compileAs(e, expr, cel.BoolType, "a statement")
}

// compileAs compiles expr, which must evaluate to want (or dyn), estimating
// its cost on a document (named by doc in errors) whose lists, maps and
// strings hold EstimatedSize entries or bytes.
func compileAs(e *cel.Env, expr string, want *cel.Type, doc string) (cel.Program, error) {
	if expr == "" {
		return nil, errors.New("empty expression")
	}
	ast, iss := e.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if out := ast.OutputType(); !out.IsExactType(want) && !out.IsExactType(cel.DynType) {
		return nil, fmt.Errorf("must evaluate to a %s, not %s", want, out)
	}
	est, err := e.EstimateCost(ast, sizeHints{}, checker.PresenceTestHasCost(false))
	if err != nil {
		return nil, fmt.Errorf("estimating its cost: %w", err)
	}
	if est.Max > StaticCostLimit {
		return nil, fmt.Errorf("estimated cost %s is over the limit of %d (on %s whose lists, maps and strings hold %d entries or bytes)", costString(est.Max), StaticCostLimit, doc, EstimatedSize)
	}
	return e.Program(ast,
		cel.EvalOptions(cel.OptOptimize, cel.OptTrackCost),
		cel.CostLimit(RuntimeCostLimit),
		cel.CostTrackerOptions(interpreter.PresenceTestHasCost(false)),
		cel.InterruptCheckFrequency(interruptCheckFrequency),
	)
}

func costString(c uint64) string {
	if c == ^uint64(0) {
		return "unbounded"
	}
	return fmt.Sprint(c)
}

// sizeHints gives the static estimate a size for values read from a
// statement, which has no schema to bound them.
type sizeHints struct{}

func (sizeHints) EstimateSize(checker.AstNode) *checker.SizeEstimate {
	return &checker.SizeEstimate{Min: 0, Max: EstimatedSize}
}

func (sizeHints) EstimateCallCost(function, _ string, _ *checker.AstNode, _ []checker.AstNode) *checker.CallEstimate {
	switch function {
	case "getQuery":
		return &checker.CallEstimate{CostEstimate: checker.FixedCostEstimate(1), ResultSize: &checker.SizeEstimate{Min: 0, Max: EstimatedSize}}
	case "value", "orValue", "or":
		// What an optional holds was read from the statement (or is the
		// default given, no larger in practice): without this the
		// estimate of a loop over predicate.?x.orValue([]) is unbounded.
		return &checker.CallEstimate{CostEstimate: checker.FixedCostEstimate(1), ResultSize: &checker.SizeEstimate{Min: 0, Max: EstimatedSize}}
	}
	return nil
}

// Image is the image a statement is checked for, the CEL variable image.
type Image struct{ Reference, Registry, Repository, Tag, Digest string }

// Signer is who signed the statement's envelope, the CEL variable signer:
// the trust root's name, and for keyless signatures the certificate's
// issuer and subject.
type Signer struct{ TrustRoot, Issuer, Subject string }

// Len is the number of conditions.
func (c *Conditions) Len() int {
	if c == nil {
		return 0
	}
	return len(c.progs)
}

// Eval evaluates the conditions in order against one statement. ok is true
// when all hold; otherwise failed is the index of the first that does not
// and reason says why: its Message (or, without one, its expression), and
// for an error the error (a missing field, a type error, the cost or step
// limit, the context's cancellation). failed is -1 when ok. An empty set
// (Compile of no conditions) holds; a nil set (what Compile returns with
// errors) never does.
func (c *Conditions) Eval(ctx context.Context, st *Statement, img Image, signer Signer, now time.Time) (ok bool, failed int, reason string) {
	if c == nil { // Compile failed and its result was used anyway: never an allow
		return false, 0, "the conditions did not compile"
	}
	for i := range c.Len() {
		if err := c.eval(ctx, i, st, img, signer, now); err != nil {
			return false, i, err.Error()
		}
	}
	return true, -1, ""
}

func (c *Conditions) eval(ctx context.Context, i int, st *Statement, img Image, signer Signer, now time.Time) error {
	label := c.conds[i].Message
	if label == "" {
		label = c.conds[i].Expression
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: not evaluated: %w", label, err)
	}
	if st == nil {
		return fmt.Errorf("%s: no statement", label)
	}
	r := &reader{}
	var pred ref.Val
	predicate := func() ref.Val {
		if pred == nil {
			pred = types.NullValue
			if t, err := st.index(ctx); err != nil {
				pred = types.WrapErr(err)
			} else if t != nil {
				r.t = t
				pred = r.value(0)
			}
		}
		return pred
	}
	act, err := interpreter.NewActivation(map[string]any{
		"predicate": predicate,
		"statement": func() ref.Val {
			return types.DefaultTypeAdapter.NativeToValue(map[string]any{
				"_type":         st.Type,
				"predicateType": st.PredicateType,
				"subject":       subjectValues(st.Subjects),
				"predicate":     predicate(),
			})
		},
		"image": map[string]string{
			"reference":  img.Reference,
			"registry":   img.Registry,
			"repository": img.Repository,
			"tag":        img.Tag,
			"digest":     img.Digest,
		},
		"signer": map[string]string{
			"trustRoot": signer.TrustRoot,
			"issuer":    signer.Issuer,
			"subject":   signer.Subject,
		},
		"now": types.Timestamp{Time: now.UTC()},
	})
	if err != nil {
		return fmt.Errorf("%s: %w", label, err)
	}
	out, _, err := c.progs[i].ContextEval(ctx, act)
	switch {
	case r.exceeded:
		return fmt.Errorf("%s: %w", label, errTooManySteps)
	case ctx.Err() != nil:
		return fmt.Errorf("%s: evaluation stopped: %w", label, ctx.Err())
	case err != nil:
		return fmt.Errorf("%s: %w", label, err)
	}
	b, isBool := out.(types.Bool)
	if !isBool {
		return fmt.Errorf("%s: evaluated to %s, not a bool", label, out.Type().TypeName())
	}
	if !b {
		return errors.New(label)
	}
	return nil
}

func subjectValues(subjects []Subject) []any {
	out := make([]any, len(subjects))
	for i, s := range subjects {
		out[i] = map[string]any{"name": s.Name, "digest": s.Digest}
	}
	return out
}

package attest

import (
	"fmt"
	"reflect"
	"strconv"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxPredicateSteps bounds the work one condition may do walking the
// predicate: each object member or list element passed over while looking
// something up is a step. CEL's cost limit counts a member access as one
// unit however large the object is, so this is what bounds the CPU time of
// an expression that reads a huge object again and again. A condition that
// exceeds it fails.
const MaxPredicateSteps = 50_000_000

// reader is one condition evaluation's view of a predicate: the shared,
// immutable tape and this evaluation's step count. Evaluations never share
// a reader, so the count needs no lock.
type reader struct {
	t        *tape
	steps    int64
	exceeded bool  // set once steps passes its limit; Eval then fails the condition whatever it returned
	limit    int64 // the step limit; 0 is MaxPredicateSteps
}

var errTooManySteps = fmt.Errorf("reading the predicate took more than %d steps", MaxPredicateSteps)

func (r *reader) step() bool {
	r.steps++
	if r.steps > MaxPredicateSteps || (r.limit > 0 && r.steps > r.limit) {
		r.exceeded = true
	}
	return !r.exceeded
}

// value is node i as a CEL value: objects and lists stay on the tape,
// strings, numbers, booleans and null are decoded. A JSON number that is an
// integer within int64 becomes an int, any other a double, so that
// `critical == 0` and `critical + 1` work as they read.
func (r *reader) value(i uint32) ref.Val {
	switch r.t.kind(i) {
	case '{':
		return &object{r: r, i: i}
	case '[':
		return &list{r: r, i: i}
	case '"':
		s, err := jsontext.AppendUnquote(nil, r.t.bytes(i))
		if err != nil {
			return types.WrapErr(err)
		}
		return types.String(s)
	case 't':
		return types.True
	case 'f':
		return types.False
	case 'n':
		return types.NullValue
	}
	b := r.t.bytes(i)
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		return types.Int(n)
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return types.WrapErr(err) // out of float64 range
	}
	return types.Double(f)
}

// native is node i decoded whole into Go values (map[string]any, []any,
// string, int64, float64, bool, nil), for ConvertToNative.
func (r *reader) native(i uint32) (any, error) {
	v := r.value(i)
	switch v.(type) {
	case *object:
		m := map[string]any{}
		for k := i + 1; k < r.t.end(i); k = r.t.next(k + 1) {
			if !r.step() {
				return nil, errTooManySteps
			}
			name, err := jsontext.AppendUnquote(nil, r.t.bytes(k))
			if err != nil {
				return nil, err
			}
			if m[string(name)], err = r.native(k + 1); err != nil {
				return nil, err
			}
		}
		return m, nil
	case *list:
		l := []any{}
		for k := i + 1; k < r.t.end(i); k = r.t.next(k) {
			if !r.step() {
				return nil, errTooManySteps
			}
			e, err := r.native(k)
			if err != nil {
				return nil, err
			}
			l = append(l, e)
		}
		return l, nil
	}
	if types.IsError(v) {
		return nil, v.(*types.Err)
	}
	return v.Value(), nil
}

func (r *reader) convertToNative(i uint32, typeDesc reflect.Type) (any, error) {
	v, err := r.native(i)
	if err != nil {
		return nil, err
	}
	if reflect.TypeOf(v).AssignableTo(typeDesc) {
		return v, nil
	}
	return nil, fmt.Errorf("type conversion error from %T to '%v'", v, typeDesc)
}

// convertToType converts v, of type own, to typeVal: to itself or to its type.
func convertToType(v ref.Val, own *types.Type, typeVal ref.Type) ref.Val {
	switch typeVal {
	case own:
		return v
	case types.TypeType:
		return own
	}
	return types.NewErr("type conversion error from '%s' to '%s'", own, typeVal)
}

func (r *reader) nativeOrNil(i uint32) any {
	v, err := r.native(i)
	if err != nil {
		return nil
	}
	return v
}

// object is a JSON object of the predicate, a CEL map(string, dyn).
type object struct {
	r    *reader
	i    uint32
	size ref.Val // memoised
}

var _ traits.Mapper = (*object)(nil)

// find returns the value node of member name.
func (o *object) find(name string) (uint32, bool, error) {
	t := o.r.t
	for k := o.i + 1; k < t.end(o.i); k = t.next(k + 1) {
		if !o.r.step() {
			return 0, false, errTooManySteps
		}
		if t.nameIs(k, name) {
			return k + 1, true, nil
		}
	}
	return 0, false, nil
}

func (o *object) Find(key ref.Val) (ref.Val, bool) {
	name, ok := key.(types.String)
	if !ok {
		if types.IsUnknownOrError(key) {
			return key, false
		}
		return nil, false // JSON objects have string keys only
	}
	i, found, err := o.find(string(name))
	if err != nil {
		return types.WrapErr(err), false
	}
	if !found {
		return nil, false
	}
	return o.r.value(i), true
}

func (o *object) Get(key ref.Val) ref.Val {
	v, found := o.Find(key)
	if !found {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

func (o *object) Contains(key ref.Val) ref.Val {
	v, found := o.Find(key)
	if !found && v != nil {
		return v
	}
	return types.Bool(found)
}

func (o *object) Size() ref.Val {
	if o.size == nil {
		o.size = o.count()
	}
	return o.size
}

func (o *object) count() ref.Val {
	n := 0
	for k := o.i + 1; k < o.r.t.end(o.i); k = o.r.t.next(k + 1) {
		if !o.r.step() {
			return types.WrapErr(errTooManySteps)
		}
		n++
	}
	return types.Int(n)
}

func (o *object) Iterator() traits.Iterator {
	return &iterator{r: o.r, k: o.i + 1, end: o.r.t.end(o.i), names: true}
}

func (o *object) Equal(other ref.Val) ref.Val {
	m, ok := other.(traits.Mapper)
	if !ok {
		return types.False
	}
	size := o.Size()
	if types.IsError(size) || size.Equal(m.Size()) != types.True {
		return size.Equal(m.Size())
	}
	t := o.r.t
	for k := o.i + 1; k < t.end(o.i); k = t.next(k + 1) {
		name := o.r.value(k)
		ov, found := m.Find(name)
		if !found {
			return types.False
		}
		if eq := types.Equal(o.r.value(k+1), ov); eq != types.True {
			return eq
		}
	}
	return types.True
}

func (o *object) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return o.r.convertToNative(o.i, typeDesc)
}

func (o *object) ConvertToType(typeVal ref.Type) ref.Val {
	return convertToType(o, types.MapType, typeVal)
}

func (o *object) Type() ref.Type { return types.MapType }

func (o *object) Value() any { return o.r.nativeOrNil(o.i) }

// list is a JSON array of the predicate, a CEL list(dyn).
type list struct {
	r    *reader
	i    uint32
	size ref.Val // memoised: CEL asks for it on every iteration
}

var (
	_ traits.Lister   = (*list)(nil)
	_ traits.Foldable = (*list)(nil)
	_ traits.Foldable = (*object)(nil)
)

func (l *list) elements() ([]ref.Val, error) {
	var out []ref.Val
	for k := l.i + 1; k < l.r.t.end(l.i); k = l.r.t.next(k) {
		if !l.r.step() {
			return nil, errTooManySteps
		}
		out = append(out, l.r.value(k))
	}
	return out, nil
}

func (l *list) Add(other ref.Val) ref.Val {
	if _, ok := other.(traits.Lister); !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	elems, err := l.elements()
	if err != nil {
		return types.WrapErr(err)
	}
	return types.NewRefValList(types.DefaultTypeAdapter, elems).Add(other)
}

func (l *list) Contains(v ref.Val) ref.Val {
	for k := l.i + 1; k < l.r.t.end(l.i); k = l.r.t.next(k) {
		if !l.r.step() {
			return types.WrapErr(errTooManySteps)
		}
		if types.Equal(v, l.r.value(k)) == types.True {
			return types.True
		}
	}
	return types.False
}

func (l *list) Get(index ref.Val) ref.Val {
	want, err := types.GetOrError(index)
	if err != nil {
		return types.ValOrErr(index, "%v", err)
	}
	n := 0
	for k := l.i + 1; k < l.r.t.end(l.i); k = l.r.t.next(k) {
		if !l.r.step() {
			return types.WrapErr(errTooManySteps)
		}
		if n == want {
			return l.r.value(k)
		}
		n++
	}
	return types.NewErr("index '%d' out of range in list size '%d'", want, n)
}

func (l *list) Size() ref.Val {
	if l.size == nil {
		l.size = l.count()
	}
	return l.size
}

func (l *list) count() ref.Val {
	n := 0
	for k := l.i + 1; k < l.r.t.end(l.i); k = l.r.t.next(k) {
		if !l.r.step() {
			return types.WrapErr(errTooManySteps)
		}
		n++
	}
	return types.Int(n)
}

func (l *list) Iterator() traits.Iterator {
	return &iterator{r: l.r, k: l.i + 1, end: l.r.t.end(l.i)}
}

func (l *list) Equal(other ref.Val) ref.Val {
	o, ok := other.(traits.Lister)
	if !ok {
		return types.False
	}
	size := l.Size()
	if types.IsError(size) || size.Equal(o.Size()) != types.True {
		return size.Equal(o.Size())
	}
	n := 0
	for k := l.i + 1; k < l.r.t.end(l.i); k = l.r.t.next(k) {
		if eq := types.Equal(l.r.value(k), o.Get(types.Int(n))); eq != types.True {
			return eq
		}
		n++
	}
	return types.True
}

func (l *list) ConvertToNative(typeDesc reflect.Type) (any, error) {
	return l.r.convertToNative(l.i, typeDesc)
}

func (l *list) ConvertToType(typeVal ref.Type) ref.Val {
	return convertToType(l, types.ListType, typeVal)
}

func (l *list) Type() ref.Type { return types.ListType }

func (l *list) Value() any { return l.r.nativeOrNil(l.i) }

// iterator walks an object's member names or a list's elements.
type iterator struct {
	r      *reader
	k, end uint32
	names  bool
	err    error
}

var _ traits.Iterator = (*iterator)(nil)

func (it *iterator) HasNext() ref.Val {
	if it.err != nil {
		return types.WrapErr(it.err)
	}
	return types.Bool(it.k < it.end)
}

func (it *iterator) Next() ref.Val {
	if it.k >= it.end {
		return nil
	}
	if !it.r.step() {
		it.err = errTooManySteps
		it.k = it.end
		return types.WrapErr(errTooManySteps)
	}
	v := it.r.value(it.k)
	if it.names {
		it.k = it.r.t.next(it.k + 1)
	} else {
		it.k = it.r.t.next(it.k)
	}
	return v
}

func (it *iterator) ConvertToNative(reflect.Type) (any, error) {
	return nil, fmt.Errorf("type conversion on iterators not supported")
}

func (it *iterator) ConvertToType(ref.Type) ref.Val { return types.NewErr("no such overload") }
func (it *iterator) Equal(ref.Val) ref.Val          { return types.NewErr("no such overload") }
func (it *iterator) Type() ref.Type                 { return types.IteratorType }
func (it *iterator) Value() any                     { return nil }

// Fold walks the list once (cel-go folds comprehensions over a list by
// index otherwise, which on the tape would be quadratic).
func (l *list) Fold(f traits.Folder) {
	n := 0
	for k := l.i + 1; k < l.r.t.end(l.i); k = l.r.t.next(k) {
		if !l.r.step() || !f.FoldEntry(types.Int(n), l.r.value(k)) {
			return
		}
		n++
	}
}

// Fold walks the object's members once.
func (o *object) Fold(f traits.Folder) {
	for k := o.i + 1; k < o.r.t.end(o.i); k = o.r.t.next(k + 1) {
		if !o.r.step() || !f.FoldEntry(o.r.value(k), o.r.value(k+1)) {
			return
		}
	}
}

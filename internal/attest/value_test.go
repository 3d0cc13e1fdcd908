package attest

import (
	"context"
	"testing"
)

// TestValues: predicate values behave as CEL's own maps, lists, numbers and
// strings in every position.
func TestValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		predicate, expr string
		holds           bool
	}{
		{`{"a":0.0,"b":2}`, `predicate.a == 0 && predicate.b == 2.0 && predicate.b > 1 && predicate.a < 1u`, true},
		{`{"a":9007199254740993}`, `predicate.a == 9007199254740993`, true}, // an int, not rounded through float64
		{`null`, `predicate == null`, true},
		{`{"a":{"b":[1,2]}}`, `predicate == {"a": {"b": [1, 2]}} && {"a": {"b": [1, 2]}} == predicate`, true},
		{`{"a":{"b":[1,2]}}`, `predicate == {"a": {"b": [1, 3]}} || [1, 2, 3] == predicate.a.b`, false},
		{`{"a":{"b":[1,2]}}`, `predicate.a.b + [3] == [1, 2, 3] && 2 in predicate.a.b && "a" in predicate && !("z" in predicate)`, true},
		{`{"a":"x"}`, `string(predicate.a) == "x" && predicate.a.size() == 1 && dyn(predicate).a == "x" && type(predicate) == map`, true},
		{`{"k\u0041":1,"b\"":2}`, `predicate.kA == 1 && predicate["b\""] == 2 && predicate.size() == 2`, true},
		{`[{"a":1},{"a":2}]`, `predicate.map(x, x.a).exists(v, v == 2) && predicate[1].a == 2 && predicate.exists_one(x, x.a == 1)`, true},
		{`{"m":{"x":1,"y":2}}`, `predicate.m.all(k, k in ["x", "y"]) && predicate.m.exists(k, predicate.m[k] == 2)`, true},
		{`[1,2]`, `predicate[2] == 1`, false}, // out of range: an error, a failed condition
		{`{"a":1}`, `predicate[1] == 1`, false},
	} {
		st, err := ParseStatement([]byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[{"digest":{"sha256":"00"}}],"predicate":` + tc.predicate + `}`))
		if err != nil {
			t.Fatal(err)
		}
		c := mustCompile(t, Condition{Expression: tc.expr})
		if ok, _, reason := c.Eval(context.Background(), st, testImage, testSigner, testNow); ok != tc.holds {
			t.Errorf("%s on %s = %v (%s), want %v", tc.expr, tc.predicate, ok, reason, tc.holds)
		}
	}
}

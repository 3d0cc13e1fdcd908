package attest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParseStatement: any payload parses or fails with an error, and a
// parsed statement evaluates (holding or not) without a panic or hang.
func FuzzParseStatement(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[{"digest":{"sha256":"ab"}}],"predicate":[1,2.5,-0,1e400,"\u00e9",null,true,{"a":{}}]}`,
		`{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[{"digest":{"sha256":"ab"}}],"predicate":"s"}`,
		`{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[{"digest":{"sha256":"ab"}}],"predicate":{"scanner":{"result":{"summary":{"critical":"0"}}},"a\u0062":[]}}`,
		`{}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	c, errs := Compile([]Condition{
		{Expression: `statement.subject.size() > 0`},
		{Expression: `has(predicate.scanner) ? predicate.scanner.result.summary.critical == 0 : true`},
		{Expression: `predicate.exists(k, k == "ab") || predicate == [] || size(predicate) >= 0`},
		{Expression: `string(predicate).size() >= 0`},
		{Expression: `predicate.components.exists(c, c.name.startsWith("lib"))`},
	})
	if errs != nil {
		f.Fatal(errs)
	}
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, payload []byte) {
		st, err := ParseStatement(payload)
		if err != nil {
			return
		}
		if st.Type == "" || st.PredicateType == "" || len(st.Subjects) == 0 {
			t.Fatalf("parsed statement misses a required field: %+v", st)
		}
		for i := range c.Len() {
			one := &Conditions{conds: c.conds[i : i+1], progs: c.progs[i : i+1]}
			ok, failed, reason := one.Eval(context.Background(), st, Image{}, Signer{}, now)
			if ok != (failed == -1) || ok != (reason == "") {
				t.Fatalf("Eval = %v, %d, %q: inconsistent", ok, failed, reason)
			}
		}
	})
}

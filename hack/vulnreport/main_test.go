package main

import (
	"strings"
	"testing"
)

const scan = `{"config":{"db":"file:///db","go_version":"go1.27.3"}}
{"osv":{"id":"GO-1","summary":"one"}}
{"osv":{"id":"GO-2","summary":"two"}}
{"osv":{"id":"GO-3","summary":"three"}}
{"finding":{"osv":"GO-1","fixed_version":"v1.2.0","trace":[{"module":"example.com/a","version":"v1.1.0","package":"example.com/a/p"}]}}
{"finding":{"osv":"GO-1","fixed_version":"v1.2.0","trace":[{"module":"example.com/a","version":"v1.1.0","package":"example.com/a/p","function":"F"},{"module":"m"}]}}
{"finding":{"osv":"GO-2","trace":[{"module":"example.com/b","version":"v0.1.0","package":"example.com/b","function":"G","receiver":"*T"}]}}
{"finding":{"osv":"GO-3","trace":[{"module":"example.com/c","version":"v0.1.0","package":"example.com/c"}]}}
`

func TestReport(t *testing.T) {
	for _, tc := range []struct {
		name     string
		in       string
		accepted map[string]string
		ok       bool
		want     []string
	}{
		{name: "called and not accepted fails", in: scan, ok: false,
			want: []string{"CALLED    GO-1  example.com/a@v1.1.0 (fixed in v1.2.0), e.g. example.com/a/p.F: one", "CALLED    GO-2", "example.com/b.*T.G", "2 called (0 accepted), 1 in required modules but not called"}},
		{name: "every called one accepted passes", in: scan, accepted: map[string]string{"GO-1": "why", "GO-2": "because"}, ok: true,
			want: []string{"accepted  GO-1", ": why", "2 called (2 accepted)"}},
		{name: "a stale acceptance is named", in: scan, accepted: map[string]string{"GO-1": "a", "GO-2": "b", "GO-3": "c", "GO-9": "d"}, ok: true,
			want: []string{"stale     GO-3", "stale     GO-9"}},
		{name: "an empty scan passes", in: `{"config":{"db":"file:///db","go_version":"go1.27.3"}}`, ok: true, want: []string{"0 called"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			ok, err := report(strings.NewReader(tc.in), &out, tc.accepted)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.ok {
				t.Errorf("ok = %v, want %v\n%s", ok, tc.ok, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
	if _, err := report(strings.NewReader(`{"progress":{}}`), &strings.Builder{}, nil); err == nil {
		t.Error("a stream without a scan configuration passed")
	}
	if _, err := report(strings.NewReader(`{"config":`), &strings.Builder{}, nil); err == nil {
		t.Error("a truncated stream passed")
	}
}

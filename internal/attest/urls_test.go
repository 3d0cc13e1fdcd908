package attest

import (
	"context"
	"testing"
	"time"
)

// TestURLs: Kubernetes' URL functions, as a ValidatingAdmissionPolicy
// writes them.
func TestURLs(t *testing.T) {
	t.Parallel()
	st, err := ParseStatement([]byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"00"}}],"predicateType":"p","predicate":{"repo":"https://git.example:8443/acme/app?ref=v1&ref=v2#frag","v6":"https://[::1]:80/x","bad":"not a url"}}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		expr string
		ok   bool
	}{
		{`url(predicate.repo).getScheme() == "https"`, true},
		{`url(predicate.repo).getHost() == "git.example:8443"`, true},
		{`url(predicate.repo).getHostname() == "git.example"`, true},
		{`url(predicate.repo).getPort() == "8443"`, true},
		{`url(predicate.repo).getEscapedPath() == "/acme/app"`, true},
		{`url(predicate.repo).getQuery()["ref"] == ["v1", "v2"]`, true},
		{`url(predicate.v6).getHostname() == "::1" && url(predicate.v6).getHost() == "[::1]:80"`, true},
		{`isURL(predicate.repo) && !isURL(predicate.bad)`, true},
		{`url(predicate.repo) == url("https://git.example:8443/acme/app?ref=v1&ref=v2#frag")`, true},
		{`url(predicate.bad).getHost() == ""`, false}, // a conversion error fails the condition
		{`url(predicate.repo).getQuery().all(k, k == "ref")`, true},
	}
	for _, tc := range tests {
		cs, errs := Compile([]Condition{{Expression: tc.expr}})
		if errs != nil {
			t.Errorf("%s: %v", tc.expr, errs)
			continue
		}
		if ok, _, why := cs.Eval(context.Background(), st, Image{}, Signer{}, time.Now()); ok != tc.ok {
			t.Errorf("%s = %v (%s), want %v", tc.expr, ok, why, tc.ok)
		}
	}
}

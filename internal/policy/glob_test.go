package policy

import (
	"regexp"
	"strings"
	"testing"
)

// TestGlobAsRegexp: a glob matches exactly what the regular expression
// of the whole glob matches, whether its rest after the literal prefix is
// matched without a regular expression ("**", "*") or with one: every glob
// of up to 4 characters over a, "/", "*", "?" against every string of up
// to 4 characters over a, b, "/".
func TestGlobAsRegexp(t *testing.T) {
	t.Parallel()
	whole := func(s string) *regexp.Regexp {
		r := strings.NewReplacer("**", ".*", "*", "[^/]*", "?", "[^/]")
		return regexp.MustCompile(`\A` + r.Replace(s) + `\z`)
	}
	all := func(alphabet string, n int) []string {
		out := []string{""}
		for prev := []string{""}; n > 0; n-- {
			var next []string
			for _, p := range prev {
				for _, c := range alphabet {
					next = append(next, p+string(c))
				}
			}
			out, prev = append(out, next...), next
		}
		return out
	}
	subjects := all("ab/", 4)
	for _, pat := range all("a/*?", 4) {
		if strings.Contains(pat, "***") {
			continue
		}
		g, err := compileGlob(pat)
		if err != nil {
			t.Fatal(err)
		}
		re := whole(pat)
		for _, s := range subjects {
			if got, want := g.match(s), re.MatchString(s); got != want {
				t.Fatalf("glob %q on %q: %v, want %v", pat, s, got, want)
			}
		}
	}
}

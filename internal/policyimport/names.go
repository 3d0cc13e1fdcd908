package policyimport

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/signet-dev/signet/internal/policy"
)

// nameRE is the syntax of signet's validator and trust root names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$`)

// invalidNameChar is a character a signet name may not hold.
var invalidNameChar = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// names gives each name of the input a signet name: the same when it is
// valid and free, else a cleaned, unique one.
type names struct {
	taken map[string]bool
	of    map[string]string
}

func newNames(reserved ...string) *names {
	n := &names{taken: map[string]bool{}, of: map[string]string{}}
	for _, r := range reserved {
		n.taken[r] = true
	}
	return n
}

// name returns the signet name of orig, assigning one on first use, and
// whether it differs from orig.
func (n *names) name(orig string) (string, bool) {
	if s, ok := n.of[orig]; ok {
		return s, s != orig
	}
	s := orig
	if !nameRE.MatchString(s) || s == policy.ValidatorNamespace {
		s = strings.Trim(invalidNameChar.ReplaceAllString(s, "-"), "-._")
		if len(s) > 56 {
			s = strings.Trim(s[:56], "-._")
		}
		if s == "" || s == policy.ValidatorNamespace {
			s = "imported"
		}
	}
	base := s
	for i := 2; n.taken[s]; i++ {
		s = base + "-" + strconv.Itoa(i)
	}
	n.taken[s], n.of[orig] = true, s
	return s, s != orig
}

// lookup returns the signet name given to orig, if any.
func (n *names) lookup(orig string) (string, bool) {
	s, ok := n.of[orig]
	return s, ok
}

// authRegistries names the registries of each validator's Secret when one
// of its rules has a wildcard registry, as signet requires: the registries
// its other rules name; with none, the Secret is dropped, with a note.
func authRegistries(doc *policy.Document, ns *notes) {
	index := map[string]int{}
	for i, v := range doc.Validators {
		if v.Auth != nil && len(v.Auth.Registries) == 0 {
			index[v.Name] = i
		}
	}
	hosts := map[string][]string{}
	wild := map[string]bool{}
	for _, r := range doc.Rules {
		for _, v := range append([]string{r.Validator}, r.Validators...) {
			if _, ok := index[v]; !ok {
				continue
			}
			p, err := policy.CompilePattern(r.Pattern)
			if err != nil {
				continue
			}
			host, _, _ := strings.Cut(p.Normalised(), "/")
			if strings.ContainsAny(host, "*?") || !strings.Contains(p.Normalised(), "/") {
				wild[v] = true
			} else if !slices.Contains(hosts[v], host) {
				hosts[v] = append(hosts[v], host)
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(wild)) {
		i := index[name]
		path := fmt.Sprintf("validators.%d.auth", i)
		if len(hosts[name]) == 0 {
			ns.add(fmt.Sprintf("validators.%d", i), "", "not converted: the Secret %q, offered to every registry; signet offers credentials only to the registries auth.registries lists: add auth with them", doc.Validators[i].Auth.SecretName)
			doc.Validators[i].Auth = nil
			continue
		}
		doc.Validators[i].Auth.Registries = hosts[name]
		ns.add(path, "", "the Secret is offered to %v only (the registries the validator's rules name); list any other registry it is for in auth.registries", hosts[name])
	}
}

package policyimport

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
)

// fieldIndex reads the validator, trust root or rule a compile error
// names.
var fieldIndex = regexp.MustCompile(`^(validators|rules)\[(\d+)\](?:\.trustRoots\[(\d+)\])?`)

// maxRepairRounds bounds repair's compilations: dropping a trust root can
// only make the rules using it, then their validator, invalid.
const maxRepairRounds = 4

// repair makes doc a policy signet loads, by what the input got wrong in
// ways a converter does not check itself (a key that does not parse, a
// regular expression that does not compile, two trust roots with one
// key…): such a trust root is dropped, a validator still invalid denies,
// a rule still invalid denies; each with a note quoting the error. Repair
// never allows anything the input did not.
func repair(doc *policy.Document, ns *notes) {
	for range maxRepairRounds {
		_, err := policy.Compile(doc, registry.MustNew(), policy.Offline())
		var inv *policy.InvalidError
		if err == nil || !errors.As(err, &inv) {
			return
		}
		roots := map[int][]int{}
		validators, rules := map[int]bool{}, map[int]bool{}
		for _, e := range inv.Errs {
			m := fieldIndex.FindStringSubmatch(e.Field)
			if m == nil {
				continue
			}
			i, _ := strconv.Atoi(m[2])
			switch {
			case m[1] == "validators" && m[3] != "" && i < len(doc.Validators):
				j, _ := strconv.Atoi(m[3])
				if !slices.Contains(roots[i], j) && j < len(doc.Validators[i].TrustRoots) {
					roots[i] = append(roots[i], j)
					ns.add(fmt.Sprintf("validators.%d", i), "", "trust root %q is not converted: %s", doc.Validators[i].TrustRoots[j].Name, e.Error())
				}
			case m[1] == "validators" && i < len(doc.Validators) && !validators[i]:
				validators[i] = true
				ns.add(fmt.Sprintf("validators.%d", i), "", "the validator denies every image: %s", e.Error())
			case m[1] == "rules" && i < len(doc.Rules) && !rules[i]:
				rules[i] = true
				ns.add(fmt.Sprintf("rules.%d", i), "", "the rule denies every image it matches: %s", e.Error())
			}
		}
		if len(roots)+len(validators)+len(rules) == 0 {
			return
		}
		for i, js := range roots {
			slices.Sort(js)
			for k := len(js) - 1; k >= 0; k-- {
				trs := doc.Validators[i].TrustRoots
				doc.Validators[i].TrustRoots = slices.Delete(slices.Clone(trs), js[k], js[k]+1)
			}
		}
		for i := range validators {
			name := doc.Validators[i].Name
			doc.Validators[i] = policy.Validator{Name: name, Type: policy.TypeStatic, Approve: new(false)}
		}
		for i := range rules {
			if !slices.ContainsFunc(doc.Validators, func(v policy.Validator) bool { return v.Name == importDeny }) {
				doc.Validators = append(doc.Validators, policy.Validator{Name: importDeny, Type: policy.TypeStatic, Approve: new(false)})
			}
			doc.Rules[i] = policy.Rule{Pattern: doc.Rules[i].Pattern, Validator: importDeny}
		}
	}
}

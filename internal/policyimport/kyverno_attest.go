package policyimport

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/signet-dev/signet/internal/attest"
	"github.com/signet-dev/signet/internal/policy"
)

// convertAttestation converts one Kyverno attestation check. Its JMESPath
// conditions become CEL only where the translation is exact: a field of the
// predicate compared with Equals or NotEquals to a literal string (without
// Kyverno's wildcards), whole number or boolean. Other conditions are notes
// quoting the original.
func convertAttestation(a kyAttestation, typ, where string, o *kyOptions, n *entryNotes) (kyAtt, bool) {
	var out kyAtt
	if typ == "notary" {
		n.add("%s: Notary attestations (referrer artifacts checked by Notation) are not supported by signet: the entry denies (stricter)", where)
		return out, false
	}
	pt := a.PredicateType
	if pt == "" {
		pt = a.Type
	}
	if pt == "" {
		n.add("%s names no predicateType: Kyverno fails it, and so does the converted rule", where)
		return out, false
	}
	uri, err := attest.PredicateType(pt)
	if err != nil {
		n.add("%s: %v: the entry denies", where, err)
		return out, false
	}
	name := a.Name
	if name == "" {
		name = "attestation"
	}
	out.att = policy.Attestation{Name: safeName(name, "attestation"), Type: uri}
	if len(a.Attestors) > 0 {
		t, ok := convertAttestors("cosign", a.Attestors, where+".attestors", o, n)
		if !ok {
			return out, false
		}
		if len(t.groups) > 0 {
			out.trust = t
		}
	}
	if out.trust == nil {
		n.add("%s has no attestors: Kyverno accepts an attestation signed by anyone Sigstore's public instance vouches for; signet requires it to be signed as the image is (stricter)", where)
	}
	for i, blk := range a.Conditions {
		bw := fmt.Sprintf("%s.conditions[%d]", where, i)
		for j, cond := range blk.All {
			expr, ok := celCondition(cond)
			if !ok {
				n.add("%s.all[%d]: %s has no exact CEL equivalent; not converted (looser): write it as a CEL condition over predicate", bw, j, describeCondition(cond))
				continue
			}
			out.att.Conditions = append(out.att.Conditions, policy.Condition{Expression: expr, Message: cond.Message})
		}
		if len(blk.Any) > 0 {
			var parts []string
			ok := true
			for _, cond := range blk.Any {
				expr, eok := celCondition(cond)
				if !eok {
					ok = false
					break
				}
				parts = append(parts, "("+expr+")")
			}
			if !ok {
				var ds []string
				for _, cond := range blk.Any {
					ds = append(ds, describeCondition(cond))
				}
				n.add("%s.any: one of [%s] has no exact CEL equivalent; not converted (looser): write them as one CEL condition over predicate", bw, strings.Join(ds, "; "))
				continue
			}
			out.att.Conditions = append(out.att.Conditions, policy.Condition{Expression: strings.Join(parts, " || ")})
		}
	}
	return out, true
}

var (
	jmesKeyRE = regexp.MustCompile(`^\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}$`)
	// Names of Kyverno's context besides the predicate.
	contextNames = map[string]bool{"request": true, "images": true, "element": true, "elementIndex": true, "serviceAccountName": true, "serviceAccountNamespace": true, "image": true}
)

// celCondition returns the CEL of a condition exactly expressible.
func celCondition(c kyCondition) (string, bool) {
	if c.Key.Kind != yaml.ScalarNode || c.Value.Kind != yaml.ScalarNode {
		return "", false
	}
	m := jmesKeyRE.FindStringSubmatch(strings.TrimSpace(c.Key.Value))
	if m == nil {
		return "", false
	}
	path := strings.Split(m[1], ".")
	if contextNames[path[0]] {
		return "", false
	}
	var op string
	switch c.Operator {
	case "Equals", "Equal":
		op = "=="
	case "NotEquals", "NotEqual":
		op = "!="
	default:
		return "", false
	}
	lit, ok := celLiteral(c.Value)
	if !ok {
		return "", false
	}
	var b strings.Builder
	b.WriteString("predicate")
	for _, p := range path {
		b.WriteString(`["` + p + `"]`)
	}
	return b.String() + " " + op + " " + lit, true
}

// celLiteral writes a YAML scalar as a CEL literal: a string without
// Kyverno's wildcards or variables, a whole number, a boolean.
func celLiteral(v yaml.Node) (string, bool) {
	switch v.Tag {
	case "!!bool":
		b, err := strconv.ParseBool(v.Value)
		return strconv.FormatBool(b), err == nil
	case "!!int":
		i, err := strconv.ParseInt(v.Value, 10, 64)
		return strconv.FormatInt(i, 10), err == nil
	case "!!str":
		s := v.Value
		if strings.ContainsAny(s, "*?") || strings.Contains(s, "{{") || len(s) > 1024 {
			return "", false
		}
		for _, r := range s {
			if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
				return "", false
			}
		}
		return `"` + s + `"`, true
	}
	return "", false
}

// describeCondition quotes a Kyverno condition for a note.
func describeCondition(c kyCondition) string {
	d := fmt.Sprintf("{key: %s, operator: %s, value: %s}", nodeText(c.Key), c.Operator, nodeText(c.Value))
	if len(d) > 300 {
		d = d[:300] + "…"
	}
	return d
}

func nodeText(n yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return strconv.Quote(n.Value)
	}
	b, err := yaml.Marshal(&n)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(strings.Join(strings.Fields(string(b)), " "))
}

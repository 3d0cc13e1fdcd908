package policy

import (
	"context"
	"fmt"
	"strings"

	"github.com/signet-dev/signet/internal/attest"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
)

// MaxConditions bounds the CEL conditions of one policy (a file, or one
// policy object), all rules' with.attestations together: each is compiled
// and held in memory for as long as the policy is in force (about 50 KiB
// allocated and 5 KiB held apiece), and whoever may write an ImagePolicy
// chooses how many there are. A policy with more is refused before any is
// compiled (TestMaxConditions measures the heap of one at the bound).
const MaxConditions = 256

// conditionCount is the number of CEL conditions of rules.
func conditionCount(rules []Rule) int {
	n := 0
	for _, r := range rules {
		for _, a := range r.With.Attestations {
			n += len(a.Conditions)
		}
	}
	return n
}

// compileAttestations compiles a rule's with.attestations: each entry's
// predicate type, validator, trust roots and CEL conditions. It returns the
// requirements and the validators they name (for the rule's hash), or
// ok=false after reporting every problem.
func compileAttestations(f string, r Rule, validators map[string]*validatorSpec, reg Registry, o compileOptions, p *problems) (reqs []attest.Requirement, specs []Validator, ok bool) {
	f += ".with.attestations"
	as := r.With.Attestations
	if len(as) > attest.MaxRequirements {
		p.add(f, "%d attestation requirements; at most %d per rule", len(as), attest.MaxRequirements)
		return nil, nil, false
	}
	ok = true
	seen := map[string]int{}
	for k, a := range as {
		af := fmt.Sprintf("%s[%d]", f, k)
		req, spec, rok := compileAttestation(af, r, a, validators, reg, o, p)
		switch {
		case a.Name == "":
			p.add(af+".name", "is required (it names the requirement in denials)")
			rok = false
		case !nameRE.MatchString(a.Name):
			p.add(af+".name", "%q is not a valid name (letters, digits, '.', '_', '-'; at most 64)", a.Name)
			rok = false
		default:
			if j, dup := seen[a.Name]; dup {
				p.add(af+".name", "duplicate requirement name %q (also %s[%d])", a.Name, f, j)
				rok = false
			}
			seen[a.Name] = k
		}
		if !rok {
			ok = false
			continue
		}
		reqs = append(reqs, req)
		specs = append(specs, spec)
	}
	return reqs, specs, ok
}

// compileAttestation compiles one requirement (its name is checked by the
// caller).
func compileAttestation(af string, r Rule, a Attestation, validators map[string]*validatorSpec, reg Registry, o compileOptions, p *problems) (attest.Requirement, Validator, bool) {
	req := attest.Requirement{Name: a.Name, Short: a.Type}
	ok := true
	switch typ, err := attest.PredicateType(a.Type); {
	case a.Type == "":
		p.add(af+".type", "is required: a predicate type URI or one of cosign's short names (slsaprovenance1, cyclonedx, spdxjson, vuln, openvex, …)")
		ok = false
	case err != nil:
		p.add(af+".type", "%v", err)
		ok = false
	default:
		req.Type = typ
	}
	conds := make([]attest.Condition, len(a.Conditions))
	for i, c := range a.Conditions {
		conds[i] = attest.Condition{Expression: c.Expression, Message: c.Message}
		if strings.TrimSpace(c.Expression) == "" {
			p.add(fmt.Sprintf("%s.conditions[%d].expression", af, i), "is required")
			ok = false
		}
		// Conservative: any mention of the image variable may read the
		// tag, whose value differs between spellings of one digest.
		if strings.Contains(c.Expression, "image") {
			req.ReadsImage = true
		}
	}
	if len(conds) > 0 {
		cs, errs := attest.Compile(conds)
		for i, err := range errs {
			if err != nil && strings.TrimSpace(conds[i].Expression) != "" {
				p.add(fmt.Sprintf("%s.conditions[%d].expression", af, i), "%v", err)
				ok = false
			}
		}
		req.Conditions = cs
	}

	// Whose signatures count.
	vname, field := a.Validator, af+".validator"
	inherit := false
	if vname == "" {
		switch {
		case len(r.Validators) > 0:
			p.add(field, "is required: the rule names several validators (%s); say which one's trust roots sign the attestations", strings.Join(r.Validators, ", "))
			return req, Validator{}, false
		case r.Validator != "":
			vname = r.Validator
		default:
			vname = DefaultName
		}
		inherit = a.TrustRoot == "" && a.Threshold == nil && len(a.Required) == 0
	}
	spec := validators[vname]
	switch {
	case spec == nil:
		p.add(field, "unknown validator %q", vname)
		return req, Validator{}, false
	case spec.v.Type != TypeCosign:
		p.add(field, "validator %q is %s: attestations are verified with cosign validators (keys, keyless identities)", vname, spec.v.Type)
		return req, spec.v, false
	}
	w := RuleOptions{TrustRoot: a.TrustRoot, Threshold: a.Threshold, Required: a.Required}
	if inherit {
		w = RuleOptions{TrustRoot: r.With.TrustRoot, Threshold: r.With.Threshold, Required: r.With.Required}
	}
	q, qok := compileQuorum(af, w, spec, p)
	if !ok || !qok || !spec.ok {
		return req, spec.v, false
	}
	v, err := cosign.New(reg, spec.roots, q, cosign.Options{
		Material: spec.material,
		TLog:     r.With.VerifyInTransparencyLog == nil || *r.With.VerifyInTransparencyLog,
		SCT:      r.With.VerifySCT == nil || *r.With.VerifySCT,
	})
	if err != nil {
		p.add(af, "%v", err)
		return req, spec.v, false
	}
	req.Source = v
	if au := spec.v.Auth; au != nil && au.SecretName != "" && o.secrets != nil {
		req.Source = authSource{authVerifier: &authVerifier{validator: vname, secret: au.SecretName, hosts: o.authRegistries[vname], src: o.secrets}, src: v}
	}
	req.Signers = fmt.Sprintf("validator %q [%s]", vname, strings.Join(q.Roots, ", "))
	return req, spec.v, true
}

// authSource is an attestation source that fetches with its validator's
// Secret's credentials, like authVerifier.
type authSource struct {
	*authVerifier
	src *cosign.Verifier
}

// Attestations implements attest.Source.
func (a authSource) Attestations(ctx context.Context, img verify.Image, predicateType string, res *verify.Result, visit func(cosign.Attestation) bool) error {
	ctx, err := a.context(ctx)
	if err != nil {
		return err
	}
	return a.src.Attestations(ctx, img, predicateType, res, visit)
}

// MaterialFingerprint implements verify.MaterialFingerprinter.
func (a authSource) MaterialFingerprint(ctx context.Context) (string, error) {
	return a.src.MaterialFingerprint(ctx)
}

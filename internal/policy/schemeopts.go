package policy

import (
	"fmt"
	"strings"

	"github.com/signet-dev/signet/internal/verify/cosign"
	"github.com/signet-dev/signet/internal/verify/notation"
)

// schemeOptionsApply reports verifyReference, acceptedReferences and
// verifyRevocation on validators they do not apply to, and a revocation
// check at the audit level.
func schemeOptionsApply(f string, w RuleOptions, v Validator, p *problems) bool {
	ok := true
	if (w.VerifyReference || len(w.AcceptedReferences) > 0) && v.Type != TypeCosign {
		why := map[string]string{
			TypeNotation: "a Notation signature signs the image's descriptor only and names no repository",
			TypeNotaryV1: "Notary v1 trust data is kept per repository already",
			TypeStatic:   "a static validator checks no signature",
		}[v.Type]
		p.add(f+".verifyReference", "applies to cosign validators only (validator %q is %s: %s)", v.Name, v.Type, why)
		ok = false
	}
	if w.VerifyRevocation && v.Type != TypeNotation {
		p.add(f+".verifyRevocation", "applies to notation validators only (validator %q is %s)", v.Name, v.Type)
		ok = false
	}
	if w.RevocationValidations != "" && v.Type != TypeNotation {
		p.add(f+".revocationValidations", "applies to notation validators only (validator %q is %s)", v.Name, v.Type)
		ok = false
	}
	if len(w.VerificationOverride) > 0 && v.Type != TypeNotation {
		p.add(f+".verificationOverride", "applies to notation validators only (validator %q is %s)", v.Name, v.Type)
		ok = false
	}
	checking := w.RevocationValidations == notation.RevocationEnforce || w.RevocationValidations == notation.RevocationLog
	if checking && w.VerificationLevel == notation.LevelAudit {
		p.add(f+".revocationValidations", "%q needs verificationLevel %q or %q: at %q, certificates are not authenticated before their OCSP and CRL URLs would be fetched", w.RevocationValidations, notation.LevelStrict, notation.LevelPermissive, notation.LevelAudit)
		ok = false
	}
	if w.VerifyRevocation && w.VerificationLevel == notation.LevelAudit {
		p.add(f+".verifyRevocation", "needs verificationLevel %q or %q: at %q, certificates are not authenticated before their OCSP and CRL URLs would be fetched", notation.LevelStrict, notation.LevelPermissive, notation.LevelAudit)
		ok = false
	}
	return ok
}

// compileReferenceCheck compiles verifyReference and acceptedReferences:
// the repositories a cosign signature may name (repository patterns, no
// tag or digest).
func compileReferenceCheck(f string, w RuleOptions, p *problems) (*cosign.ReferenceCheck, bool) {
	if !w.VerifyReference {
		if len(w.AcceptedReferences) > 0 {
			p.add(f+".acceptedReferences", "needs verifyReference: true")
			return nil, false
		}
		return nil, true
	}
	ok := true
	var pats []*Pattern
	for k, s := range w.AcceptedReferences {
		af := fmt.Sprintf("%s.acceptedReferences[%d]", f, k)
		last := s[strings.LastIndexByte(s, '/')+1:]
		if strings.ContainsAny(last, ":@") {
			p.add(af, "%q: a repository pattern has no tag or digest", s)
			ok = false
			continue
		}
		pat, err := CompilePattern(s)
		if err != nil {
			p.add(af, "%v", err)
			ok = false
			continue
		}
		if pat.Normalised() == "**" {
			p.add(af, `"**" accepts a signature made for any repository: drop verifyReference instead`)
			ok = false
			continue
		}
		pats = append(pats, pat)
	}
	c := &cosign.ReferenceCheck{}
	if len(pats) > 0 {
		c.Accept = func(repo string) bool {
			for _, pat := range pats {
				if pat.match(repo, "", "") {
					return true
				}
			}
			return false
		}
	}
	return c, ok
}

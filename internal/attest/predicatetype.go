package attest

import (
	"fmt"
	"net/url"
)

// predicateTypes maps cosign's short predicate type names (the --type flag of
// cosign attest and verify-attestation, cosign v2.6.5
// cmd/cosign/cli/options/predicate.go) to the URIs cosign writes into
// predicateType. TestPredicateTypeMatchesCosign compares it with cosign's own
// table.
var predicateTypes = map[string]string{
	"custom":           "https://cosign.sigstore.dev/attestation/v1",
	"slsaprovenance":   "https://slsa.dev/provenance/v0.2",
	"slsaprovenance02": "https://slsa.dev/provenance/v0.2",
	"slsaprovenance1":  "https://slsa.dev/provenance/v1",
	"spdx":             "https://spdx.dev/Document",
	"spdxjson":         "https://spdx.dev/Document",
	"cyclonedx":        "https://cyclonedx.org/bom",
	"link":             "https://in-toto.io/Link/v1",
	"vuln":             "https://cosign.sigstore.dev/attestation/vuln/v1",
	"openvex":          "https://openvex.dev/ns",
}

// PredicateType returns the predicate type URI for s: cosign's short name
// (slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson,
// cyclonedx, vuln, openvex, link, custom) mapped as cosign maps it, or s
// itself when it is an absolute URI (a scheme and no spaces). Anything else
// is an error. cosign also takes a bare path such as "/x"; signet does not,
// since no real predicate type is one and it is more likely a typo.
func PredicateType(s string) (string, error) {
	if uri, ok := predicateTypes[s]; ok {
		return uri, nil
	}
	u, err := url.ParseRequestURI(s)
	if err != nil || !u.IsAbs() {
		return "", fmt.Errorf("predicate type %q is neither one of cosign's short names (slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, vuln, openvex, link, custom) nor an absolute URI", s)
	}
	return s, nil
}

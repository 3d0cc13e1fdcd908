package attest

import (
	"strings"
	"testing"

	"github.com/in-toto/in-toto-golang/in_toto"
	slsa02 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v0.2"
	slsa1 "github.com/in-toto/in-toto-golang/in_toto/slsa_provenance/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign/attestation"
)

// cosignPredicateTypes is cosign v2.6.5's PredicateTypeMap
// (cmd/cosign/cli/options/predicate.go) spelled with the constants it uses;
// importing that package itself would bring cosign's whole CLI into go.mod.
var cosignPredicateTypes = map[string]string{
	"custom":           attestation.CosignCustomProvenanceV01,
	"slsaprovenance":   slsa02.PredicateSLSAProvenance,
	"slsaprovenance02": slsa02.PredicateSLSAProvenance,
	"slsaprovenance1":  slsa1.PredicateSLSAProvenance,
	"spdx":             in_toto.PredicateSPDX,
	"spdxjson":         in_toto.PredicateSPDX,
	"cyclonedx":        in_toto.PredicateCycloneDX,
	"link":             in_toto.PredicateLinkV1,
	"vuln":             attestation.CosignVulnProvenanceV01,
	"openvex":          attestation.OpenVexNamespace,
}

// TestPredicateTypeMatchesCosign: every short name maps as cosign v2.6.5's
// --type does, to the constants of in-toto-golang and cosign.
func TestPredicateTypeMatchesCosign(t *testing.T) {
	t.Parallel()
	if len(predicateTypes) != len(cosignPredicateTypes) {
		t.Errorf("%d short names, cosign has %d", len(predicateTypes), len(cosignPredicateTypes))
	}
	for name, want := range cosignPredicateTypes {
		if got, err := PredicateType(name); err != nil || got != want {
			t.Errorf("PredicateType(%q) = %q, %v; cosign: %q", name, got, err, want)
		}
	}
}

func TestPredicateType(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want, err string }{
		{"slsaprovenance1", "https://slsa.dev/provenance/v1", ""},
		{"vuln", "https://cosign.sigstore.dev/attestation/vuln/v1", ""},
		{"https://example.com/predicate/v1", "https://example.com/predicate/v1", ""},
		{"urn:example:predicate", "urn:example:predicate", ""},
		{"SLSAProvenance1", "", "neither"},
		{"", "", "neither"},
		{"/relative/path", "", "neither"},
		{"not a uri", "", "neither"},
	} {
		got, err := PredicateType(tc.in)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("PredicateType(%q) = %q, %v; want %q, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseStatement(t *testing.T) {
	t.Parallel()
	const sub = `"subject":[{"name":"x","digest":{"sha256":"ab"}}]`
	for _, tc := range []struct{ name, in, err string }{
		{"v0.1", `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"p",` + sub + `,"predicate":{}}`, ""},
		{"v1 without predicate", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"p",` + sub + `}`, ""},
		{"unknown fields ignored", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"p",` + sub + `,"x":[1,{"y":2}]}`, ""},
		{"not JSON", `not json`, "not JSON"},
		{"empty", ``, "not JSON"},
		{"not an object", `[1]`, "not a JSON object"},
		{"truncated", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"p",` + sub + `,"predicate":{"a":`, "in-toto statement"},
		{"trailing data", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"p",` + sub + `} {}`, "after the JSON object"},
		{"no _type", `{"predicateType":"p",` + sub + `}`, "no _type"},
		{"wrong _type", `{"_type":"https://in-toto.io/Statement/v2","predicateType":"p",` + sub + `}`, `_type "https://in-toto.io/Statement/v2" is not`},
		{"_type not a string", `{"_type":1,"predicateType":"p",` + sub + `}`, "_type is not a string"},
		{"no predicateType", `{"_type":"https://in-toto.io/Statement/v1",` + sub + `}`, "no predicateType"},
		{"empty predicateType", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"",` + sub + `}`, "no predicateType"},
		{"no subject", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"p"}`, "no subject"},
		{"empty subject", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[]}`, "no subject"},
		{"subject not a list", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":{}}`, "subject is not a list"},
		{"subject without digest", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[{"name":"x"}]}`, "subject[0] has no digest"},
		{"digest not strings", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[{"digest":{"sha256":1}}]}`, "subject[0]"},
		{"duplicate names", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"p",` + sub + `,"predicate":{"a":1,"a":2}}`, "duplicate"},
		{"duplicate top-level", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","predicateType":"q",` + sub + `}`, "duplicate"},
		{"invalid UTF-8", "{\"_type\":\"https://in-toto.io/Statement/v1\",\"predicateType\":\"p\"," + sub + ",\"predicate\":{\"a\":\"\xff\"}}", "UTF-8"},
		{"too many subjects", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[` + strings.Repeat(`{"digest":{"sha256":"ab"}},`, MaxSubjects) + `{"digest":{"sha256":"ab"}}]}`, "more than 1024 subjects"},
		{"too deep", `{"_type":"https://in-toto.io/Statement/v1","predicateType":"p",` + sub + `,"predicate":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, "depth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st, err := ParseStatement([]byte(tc.in))
			if tc.err == "" {
				if err != nil {
					t.Fatalf("ParseStatement: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("ParseStatement = %v, %v; want an error containing %q", st, err, tc.err)
			}
		})
	}
}

// TestParseStatementTooLarge: a statement over MaxStatementBytes is refused
// before a byte of it is parsed.
func TestParseStatementTooLarge(t *testing.T) {
	t.Parallel()
	_, err := ParseStatement(make([]byte, MaxStatementBytes+1))
	if err == nil || !strings.Contains(err.Error(), "over the limit of 67108864") {
		t.Fatalf("ParseStatement = %v", err)
	}
}

func TestNames(t *testing.T) {
	t.Parallel()
	st, err := ParseStatement([]byte(`{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[
		{"name":"a","digest":{"sha256":"aa11"}},
		{"name":"b","digest":{"sha512":"bb22","sha256":"cc33"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for digest, want := range map[string]bool{
		"sha256:aa11": true,
		"sha256:cc33": true,
		"sha512:bb22": true,
		"sha256:AA11": true,
		"sha256:bb22": false, // another algorithm's value
		"sha384:aa11": false,
		"sha256:aa1":  false,
		"sha256:":     false,
		":aa11":       false,
		"aa11":        false,
		"":            false,
	} {
		if got := st.Names(digest); got != want {
			t.Errorf("Names(%q) = %v, want %v", digest, got, want)
		}
	}
}

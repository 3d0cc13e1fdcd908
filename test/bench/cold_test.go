package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/test/harness"
)

// TestColdAttestationsAreCosigns: the cold admission case's legacy
// attestations are what cosign v2 writes, by cosign v2's own account:
// `verify-attestation --key` accepts each predicate type.
func TestColdAttestationsAreCosigns(t *testing.T) {
	reg, err := startRegistry()
	if err != nil {
		t.Fatal(err)
	}
	key, err := fixture.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	img, err := fixture.PushImage(reg.host + "/a/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	if err := attestLegacy(img, key, map[string]any{slsaProvenance1: slsaPredicate(), cosignVuln: vulnPredicate()}); err != nil {
		t.Fatal(err)
	}
	cs := harness.NewCosign(t)
	pub := filepath.Join(cs.Dir, "bench.pub")
	if err := os.WriteFile(pub, []byte(key.PEM), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"slsaprovenance1", "vuln"} {
		cs.Run(t, harness.Tool(t, "cosign2"), "verify-attestation", "--key", pub, "--type", typ,
			"--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry", img.String())
	}
	// And not for a predicate it does not hold.
	if out, err := cs.Try(harness.Tool(t, "cosign2"), "verify-attestation", "--key", pub, "--type", "spdxjson",
		"--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry", img.String()); err == nil {
		t.Errorf("cosign verified an SPDX attestation the image does not have:\n%s", out)
	}
}

package notation_test

import (
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify/notation"
)

// TestLoadConfig: a notation configuration is read within its bounds, and
// whatever is wrong with it is an error naming what.
func TestLoadConfig(t *testing.T) {
	t.Parallel()
	now := time.Now()
	p := newPKI(t, "release", now.Add(-time.Hour), now.Add(time.Hour))
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.ca.Raw})
	leafPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.leaf.Raw})
	statement := func(level, stores string) string {
		return fmt.Sprintf(`{"version": "1.0", "trustPolicies": [{"name": "s", "registryScopes": ["*"], "signatureVerification": {"level": %q}, "trustStores": [%s], "trustedIdentities": ["*"]}]}`, level, stores)
	}
	good := statement("strict", `"ca:acme"`)
	tests := []struct {
		name   string
		policy string
		files  map[string][]byte // under the store directory
		want   string            // "" when valid
	}{
		{"PEM", good, map[string][]byte{"ca/acme/ca.crt": caPEM}, ""},
		{"DER", good, map[string][]byte{"ca/acme/ca.cer": p.ca.Raw}, ""},
		{"hidden files ignored", good, map[string][]byte{"ca/acme/ca.crt": caPEM, "ca/acme/..data": []byte("x")}, ""},
		{"malformed JSON", `{"version": `, nil, "parsing trust policy"},
		{"invalid policy", statement("strict", ""), nil, "missing trust stores"},
		{"verification level skip", `{"version": "1.0", "trustPolicies": [{"name": "s", "registryScopes": ["*"], "signatureVerification": {"level": "skip"}}]}`, nil, "verification level skip is not supported"},
		{"missing store", good, nil, "trust store ca:acme of statement \"s\""},
		{"empty store", good, map[string][]byte{"ca/acme/.keep": nil}, "no certificates"},
		{"not a certificate", good, map[string][]byte{"ca/acme/ca.crt": []byte("hello")}, "neither PEM certificates nor a DER certificate"},
		{"leaf of a CA in a tsa store", statement("strict", `"ca:acme", "tsa:ts"`), map[string][]byte{"ca/acme/ca.crt": caPEM, "tsa/ts/leaf.crt": leafPEM}, "not a self-signed root CA"},
		{"policy too large", good + strings.Repeat(" ", notation.MaxTrustPolicyBytes), nil, "larger than"},
		{"certificate file too large", good, map[string][]byte{"ca/acme/ca.crt": append(caPEM, make([]byte, notation.MaxCertificateFileBytes)...)}, "larger than"},
		{"too many files", good, manyFiles(caPEM, notation.MaxTrustStoreFiles+1), fmt.Sprintf("more than %d certificate files", notation.MaxTrustStoreFiles)},
		{"too many certificates", good, map[string][]byte{"ca/acme/ca.crt": []byte(strings.Repeat(string(caPEM), notation.MaxTrustStoreCertificates+1))}, fmt.Sprintf("more than %d certificates", notation.MaxTrustStoreCertificates)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pf := filepath.Join(dir, "trustpolicy.json")
			if err := os.WriteFile(pf, []byte(tc.policy), 0o600); err != nil {
				t.Fatal(err)
			}
			store := filepath.Join(dir, "x509")
			for name, b := range tc.files {
				path := filepath.Join(store, name)
				os.MkdirAll(filepath.Dir(path), 0o700)
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := notation.LoadConfig(pf, store)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.Policy.TrustPolicies[0].Name != "s" {
					t.Errorf("policy %+v", c.Policy)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("LoadConfig = %v, want %q", err, tc.want)
			}
		})
	}
}

func manyFiles(b []byte, n int) map[string][]byte {
	m := map[string][]byte{}
	for i := range n {
		m[fmt.Sprintf("ca/acme/%03d.crt", i)] = b
	}
	return m
}

// TestNewFromConfigRevocation: with revocation checking on, a statement
// that does not enforce authenticity is refused (its certificates' URLs
// would be fetched unauthenticated); the rule's level options do not apply.
func TestNewFromConfigRevocation(t *testing.T) {
	t.Parallel()
	now := time.Now()
	p := newPKI(t, "release", now.Add(-time.Hour), now.Add(time.Hour))
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "x509", "ca", "acme"), 0o700)
	os.WriteFile(filepath.Join(dir, "x509", "ca", "acme", "ca.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.ca.Raw}), 0o600)
	load := func(sv string) *notation.Config {
		pf := filepath.Join(t.TempDir(), "trustpolicy.json")
		os.WriteFile(pf, []byte(`{"version": "1.0", "trustPolicies": [{"name": "s", "registryScopes": ["*"], "signatureVerification": `+sv+`, "trustStores": ["ca:acme"], "trustedIdentities": ["*"]}]}`), 0o600)
		c, err := notation.LoadConfig(pf, filepath.Join(dir, "x509"))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		sv   string
		opts notation.Options
		want string
	}{
		{`{"level": "strict"}`, notation.Options{Revocation: notation.RevocationEnforce}, ""},
		{`{"level": "audit"}`, notation.Options{}, ""},
		{`{"level": "audit"}`, notation.Options{Revocation: notation.RevocationLog}, "needs authenticity enforced"},
		{`{"level": "strict", "override": {"authenticity": "log"}}`, notation.Options{Revocation: notation.RevocationEnforce}, "needs authenticity enforced"},
		{`{"level": "strict"}`, notation.Options{Level: notation.LevelPermissive}, "the trust policy file's"},
	}
	for _, tc := range tests {
		_, err := notation.NewFromConfig(registry.MustNew(), load(tc.sv), tc.opts)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: NewFromConfig = %v, want %q", tc.sv, tc.opts, err, tc.want)
		}
	}
}

package notation

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	nverifier "github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/signet-dev/signet/internal/verify"
)

// Bounds on a notation configuration read from disk (LoadConfig).
const (
	// MaxTrustPolicyBytes bounds trustpolicy.json.
	MaxTrustPolicyBytes = 1 << 20
	// MaxTrustPolicies bounds the statements of trustpolicy.json.
	MaxTrustPolicies = 64
	// MaxCertificateFileBytes bounds one certificate file of the trust
	// store.
	MaxCertificateFileBytes = 256 << 10
	// MaxTrustStoreFiles bounds the certificate files read from the trust
	// store, over all the named stores the policy uses.
	MaxTrustStoreFiles = 256
	// MaxTrustStoreCertificates bounds the certificates read from them.
	MaxTrustStoreCertificates = 256
)

// ConfigRoot is the trust root name of a verifier built from a notation
// configuration: the name its signers are counted under.
const ConfigRoot = "trustPolicy"

// Config is a user's notation configuration: a trust policy document and
// the named x509 trust stores it uses, held in memory.
type Config struct {
	Policy *trustpolicy.Document
	stores map[string][]*x509.Certificate // "type:name" → certificates
	// fingerprint digests the policy file and the certificates read.
	fingerprint string
}

// LoadConfig reads a notation trustpolicy.json and, from the x509 trust
// store directory storeDir ({ca,signingAuthority,tsa}/<name>/<files>, as
// `notation cert add` lays it out), the named stores its statements use,
// within the Max* bounds. The document must pass notation-go's own
// validation, and every statement must verify (verification level skip is
// refused: a rule that admits images unverified uses a static validator)
// and name stores that exist.
func LoadConfig(policyFile, storeDir string) (*Config, error) {
	data, err := readBounded(policyFile, MaxTrustPolicyBytes)
	if err != nil {
		return nil, fmt.Errorf("reading trust policy: %w", err)
	}
	var doc trustpolicy.Document
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing trust policy %s: %w", policyFile, err)
	}
	if len(doc.TrustPolicies) > MaxTrustPolicies {
		return nil, fmt.Errorf("trust policy %s has %d statements, more than %d", policyFile, len(doc.TrustPolicies), MaxTrustPolicies)
	}
	if err := doc.Validate(); err != nil {
		return nil, fmt.Errorf("trust policy %s: %w", policyFile, err)
	}
	c := &Config{Policy: &doc, stores: map[string][]*x509.Certificate{}}
	files, certs := 0, 0
	for _, st := range doc.TrustPolicies {
		lvl, err := st.SignatureVerification.GetVerificationLevel()
		if err != nil {
			return nil, fmt.Errorf("trust policy %s, statement %q: %w", policyFile, st.Name, err)
		}
		if lvl.Name == trustpolicy.LevelSkip.Name {
			return nil, fmt.Errorf("trust policy %s, statement %q: verification level skip is not supported; use a static validator for images that need no signature", policyFile, st.Name)
		}
		for _, ts := range st.TrustStores {
			if _, done := c.stores[ts]; done {
				continue
			}
			typ, name, _ := strings.Cut(ts, ":") // validated above
			dir := filepath.Join(storeDir, typ, name)
			got, n, err := readStore(dir, MaxTrustStoreFiles-files, MaxTrustStoreCertificates-certs)
			if err != nil {
				return nil, fmt.Errorf("trust store %s of statement %q: %w", ts, st.Name, err)
			}
			if truststore.Type(typ) == truststore.TypeTSA {
				for _, cert := range got {
					if !cert.IsCA || cert.CheckSignatureFrom(cert) != nil {
						return nil, fmt.Errorf("trust store %s: certificate %q is not a self-signed root CA", ts, cert.Subject)
					}
				}
			}
			if err := truststore.ValidateCertificates(got); err != nil {
				return nil, fmt.Errorf("trust store %s: %w", ts, err)
			}
			files += n
			certs += len(got)
			c.stores[ts] = got
		}
	}
	h := sha256.New()
	h.Write(data)
	for _, k := range slices.Sorted(maps.Keys(c.stores)) {
		h.Write([]byte("\x00" + k))
		for _, cert := range c.stores[k] {
			h.Write(cert.Raw)
		}
	}
	c.fingerprint = "notation-config:" + hex.EncodeToString(h.Sum(nil))
	return c, nil
}

// readStore reads the certificate files (PEM or DER) of one named store,
// at most maxFiles of them holding at most maxCerts certificates. Files
// whose names start with "." are ignored (a mounted volume's "..data").
func readStore(dir string, maxFiles, maxCerts int) ([]*x509.Certificate, int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	var out []*x509.Certificate
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		fi, err := os.Stat(path)
		if err != nil {
			return nil, 0, err
		}
		if !fi.Mode().IsRegular() {
			return nil, 0, fmt.Errorf("%s is not a regular file", path)
		}
		if n++; n > maxFiles {
			return nil, 0, fmt.Errorf("more than %d certificate files in the trust stores", MaxTrustStoreFiles)
		}
		data, err := readBounded(path, MaxCertificateFileBytes)
		if err != nil {
			return nil, 0, err
		}
		certs, err := parseCertificateFile(data)
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", path, err)
		}
		if len(out)+len(certs) > maxCerts {
			return nil, 0, fmt.Errorf("more than %d certificates in the trust stores", MaxTrustStoreCertificates)
		}
		out = append(out, certs...)
	}
	if len(out) == 0 {
		return nil, 0, fmt.Errorf("no certificates in %s", dir)
	}
	return out, n, nil
}

// parseCertificateFile parses PEM certificates, or one DER certificate.
func parseCertificateFile(data []byte) ([]*x509.Certificate, error) {
	if certs, err := ParseCertificates(data); err == nil {
		return certs, nil
	}
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, errors.New("neither PEM certificates nor a DER certificate")
	}
	return []*x509.Certificate{c}, nil
}

// readBounded reads a file of at most limit bytes.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// GetCertificates implements truststore.X509TrustStore over the stores read.
func (c *Config) GetCertificates(_ context.Context, t truststore.Type, name string) ([]*x509.Certificate, error) {
	certs, ok := c.stores[string(t)+":"+name]
	if !ok {
		return nil, fmt.Errorf("no trust store %s:%s", t, name)
	}
	return certs, nil
}

// NewFromConfig returns a Verifier that checks signatures against a
// user's notation configuration, verbatim but for revocation: notation-go
// selects the statement whose registryScopes name the image's repository
// (or "*"), with its trust stores, trusted identities, verification level,
// timestamp option and overrides. Revocation is the rule's
// (opts.Revocation): every statement's revocation action is replaced by
// it, so nothing is fetched unless the rule asks; when it does, no
// statement may leave authenticity unenforced (the audit level, or an
// override). opts.Level, VerifyTimestamp and Override do not apply.
func NewFromConfig(reg Registry, c *Config, opts Options) (*Verifier, error) {
	if opts.Level != "" || opts.VerifyTimestamp != "" || len(opts.Override) > 0 {
		return nil, errors.New("the verification level, timestamp option and overrides are the trust policy file's")
	}
	on := opts.Revocation == RevocationEnforce || opts.Revocation == RevocationLog
	doc := &trustpolicy.Document{Version: c.Policy.Version}
	for _, st := range c.Policy.TrustPolicies {
		st.RegistryScopes = slices.Clone(st.RegistryScopes)
		st.TrustStores = slices.Clone(st.TrustStores)
		st.TrustedIdentities = slices.Clone(st.TrustedIdentities)
		o := map[trustpolicy.ValidationType]trustpolicy.ValidationAction{}
		for k, a := range st.SignatureVerification.Override {
			o[k] = a
		}
		for k, a := range revocationAction(opts.Revocation) {
			o[k] = a
		}
		st.SignatureVerification.Override = o
		if on {
			lvl, err := st.SignatureVerification.GetVerificationLevel()
			if err != nil {
				return nil, fmt.Errorf("statement %q: %w", st.Name, err)
			}
			if lvl.Enforcement[trustpolicy.TypeAuthenticity] != trustpolicy.ActionEnforce {
				return nil, fmt.Errorf("statement %q: revocation checking needs authenticity enforced (its level is %s): the certificates whose OCSP and CRL URLs would be fetched are not authenticated otherwise", st.Name, st.SignatureVerification.VerificationLevel)
			}
		}
		doc.TrustPolicies = append(doc.TrustPolicies, st)
	}
	var client *http.Client
	if on {
		client = newRevocationClient()
	}
	vopts, err := revocationValidators(on, client)
	if err != nil {
		return nil, err
	}
	nv, err := nverifier.NewWithOptions(doc, c, nil, vopts)
	if err != nil {
		return nil, fmt.Errorf("trust policy: %w", err)
	}
	return &Verifier{reg: reg, quorum: verify.Quorum{Roots: []string{ConfigRoot}, Threshold: 1}, revocation: on,
		logRevoked: opts.Revocation == RevocationLog, level: "of the trust policy file", fingerprint: c.fingerprint,
		roots: []boundRoot{{name: ConfigRoot, v: nv}}}, nil
}

// MaterialFingerprint implements verify.MaterialFingerprinter: a verifier
// built from a notation configuration names the content it read, so that
// a cached result never outlives an edit of those files; "" otherwise (the
// policy holds all the material).
func (v *Verifier) MaterialFingerprint(context.Context) (string, error) {
	return v.fingerprint, nil
}

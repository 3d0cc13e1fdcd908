package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"
)

// Lifetimes of what signet issues, and when it renews them: at
// RenewAfter of their life, so a renewal that fails is retried for a
// third of the lifetime before anything expires.
const (
	CALifetime      = 10 * 365 * 24 * time.Hour
	ServingLifetime = 365 * 24 * time.Hour
)

// renewAt is the point of a certificate's life (2/3) where it is renewed.
func renewAt(c *x509.Certificate) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	return c.NotBefore.Add(life * 2 / 3)
}

// The keys of the Secret. CABundleKey holds the current CA first, then
// previous CAs still valid: the bundle published to the webhooks, so a
// serving certificate of the old CA still verifies during a CA change.
const (
	CABundleKey = "ca.crt"
	CAKeyKey    = "ca.key"
	CertKey     = "tls.crt"
	KeyKey      = "tls.key"
)

// Options say what to issue.
type Options struct {
	// Names of the serving certificate: the webhook Service's DNS names,
	// and any IP address (written as one) for a webhook called by URL.
	Names []string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// CALifetime and ServingLifetime default to the constants above.
	CALifetime, ServingLifetime time.Duration
	// Published is the CA bundle the webhook configurations hold now,
	// whoever wrote it (cert-manager's CA injector, the chart's
	// tls.secret.caBundle): when Reconcile creates signet's first CA (no
	// Secret, or one that does not parse) the CAs in it are kept in the
	// bundle after the new one until they expire (see inheritedCAs), so
	// Pods still serving a certificate of the previous TLS mode keep
	// working while managed mode rolls out.
	Published []byte
}

// MaxInheritedCAs bounds how many CA certificates of Options.Published
// the new bundle keeps.
const MaxInheritedCAs = 4

// caSubjectPrefix starts the subject of every CA signet creates.
const caSubjectPrefix = "signet webhook CA "

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o Options) lifetimes() (ca, serving time.Duration) {
	ca, serving = o.CALifetime, o.ServingLifetime
	if ca <= 0 {
		ca = CALifetime
	}
	if serving <= 0 {
		serving = ServingLifetime
	}
	return ca, serving
}

// state is a parsed Secret.
type state struct {
	ca       *x509.Certificate
	caKey    crypto.Signer
	previous []*x509.Certificate
	cert     *x509.Certificate
	certPEM  []byte
	keyPEM   []byte
}

// Reconcile returns what the Secret's data should be at opts' time, given
// what it holds (nil: no Secret), and why it changed ("" when it did not).
// A CA is replaced at 2/3 of its life (the old one stays in the bundle
// until it expires, so certificates it signed keep verifying); the serving
// certificate is reissued at 2/3 of its life, when the CA changed, or when
// its names differ from opts.Names. Data that does not parse is
// replaced as a whole.
func Reconcile(data map[string][]byte, opts Options) (map[string][]byte, string, error) {
	if len(opts.Names) == 0 {
		return nil, "", errors.New("no names for the serving certificate")
	}
	now := opts.now()
	caLife, servingLife := opts.lifetimes()
	st, perr := parse(data)
	reason := ""
	switch {
	case data == nil:
		reason = "no certificate yet"
	case perr != nil:
		reason = "stored certificate unusable: " + perr.Error()
	case !now.Before(renewAt(st.ca)):
		reason = "CA due for renewal"
	}
	if reason != "" {
		ns := &state{}
		if perr == nil && st != nil {
			ns.previous = append([]*x509.Certificate{st.ca}, st.previous...)
		} else {
			ns.previous = inheritedCAs(opts.Published, now)
		}
		var err error
		if ns.ca, ns.caKey, err = newCA(now, caLife); err != nil {
			return nil, "", err
		}
		st = ns
	}
	// Previous CAs are dropped once expired: nothing they signed verifies.
	kept := st.previous[:0:0]
	for _, p := range st.previous {
		if now.Before(p.NotAfter) {
			kept = append(kept, p)
		}
	}
	if len(kept) != len(st.previous) && reason == "" {
		reason = "expired CA removed from the bundle"
	}
	st.previous = kept
	leafReason := ""
	switch {
	case st.cert == nil:
		leafReason = "new serving certificate"
	case st.cert.CheckSignatureFrom(st.ca) != nil:
		leafReason = "serving certificate not signed by the CA"
	case !now.Before(renewAt(st.cert)):
		leafReason = "serving certificate due for renewal"
	case !sameNames(certNames(st.cert), opts.Names):
		leafReason = "serving certificate names changed"
	}
	if leafReason != "" {
		var err error
		if st.certPEM, st.keyPEM, err = issue(st.ca, st.caKey, opts.Names, now, servingLife); err != nil {
			return nil, "", err
		}
		if reason == "" {
			reason = leafReason
		}
	}
	if reason == "" {
		return data, "", nil
	}
	out, err := st.encode()
	return out, reason, err
}

// inheritedCAs are the CA certificates of a bundle another TLS mode
// published that the first bundle of signet's own keeps: those that parse,
// are CAs (basic constraints), valid at now and not made by signet (a
// deleted or unusable Secret drops signet's previous CA at once: the
// recovery for its leaked key), without duplicates, at most
// MaxInheritedCAs, in the bundle's order. Anything else in it, a block
// that does not parse included, is skipped.
func inheritedCAs(bundle []byte, now time.Time) []*x509.Certificate {
	var out []*x509.Certificate
	for len(out) < MaxInheritedCAs {
		var blk *pem.Block
		blk, bundle = pem.Decode(bundle)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil || !c.BasicConstraintsValid || !c.IsCA || now.Before(c.NotBefore) || !now.Before(c.NotAfter) ||
			strings.HasPrefix(c.Subject.CommonName, caSubjectPrefix) ||
			slices.ContainsFunc(out, func(o *x509.Certificate) bool { return o.Equal(c) }) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// Covers says whether a caBundle published in a webhook configuration
// can stay as it is instead of being set to signet's bundle: it parses,
// holds every CA of bundle, and nothing in it has expired at now. A bundle
// with more — another mode's CA added while switching away from managed
// TLS (tls.additionalCABundle) — is left alone, so replicas still running
// managed TLS do not take the new mode's CA away during the rollout.
func Covers(published, bundle []byte, now time.Time) bool {
	have, err := parseCerts(published)
	if err != nil || len(have) == 0 {
		return false
	}
	want, err := parseCerts(bundle)
	if err != nil {
		return false
	}
	for _, c := range have {
		if !now.Before(c.NotAfter) {
			return false
		}
	}
	for _, w := range want {
		if !slices.ContainsFunc(have, w.Equal) {
			return false
		}
	}
	return true
}

// certNames are a certificate's DNS names and IP addresses.
func certNames(c *x509.Certificate) []string {
	out := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

func sameNames(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// parse reads a Secret's data; a nil st with a nil error means no data.
func parse(data map[string][]byte) (*state, error) {
	if data == nil {
		return nil, nil
	}
	cas, err := parseCerts(data[CABundleKey])
	if err != nil || len(cas) == 0 {
		return nil, fmt.Errorf("%s: no CA certificate", CABundleKey)
	}
	key, err := parseKey(data[CAKeyKey])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", CAKeyKey, err)
	}
	if !cas[0].IsCA || !publicKeyMatches(cas[0], key) {
		return nil, fmt.Errorf("%s does not hold the key of the CA in %s", CAKeyKey, CABundleKey)
	}
	st := &state{ca: cas[0], caKey: key, previous: cas[1:]}
	// An unusable serving pair is reissued, the CA kept.
	leaf, lerr := parseCerts(data[CertKey])
	lkey, kerr := parseKey(data[KeyKey])
	if lerr == nil && kerr == nil && len(leaf) > 0 && publicKeyMatches(leaf[0], lkey) {
		st.cert, st.certPEM, st.keyPEM = leaf[0], data[CertKey], data[KeyKey]
	}
	return st, nil
}

func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out, nil
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

func parseKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM key")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("not a signing key")
	}
	return s, nil
}

func publicKeyMatches(c *x509.Certificate, k crypto.Signer) bool {
	pub, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(c.PublicKey)
}

func (st *state) encode() (map[string][]byte, error) {
	var bundle bytes.Buffer
	for _, c := range append([]*x509.Certificate{st.ca}, st.previous...) {
		pem.Encode(&bundle, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}) //nolint:errcheck // a bytes.Buffer
	}
	caKey, err := encodeKey(st.caKey)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{
		CABundleKey: bundle.Bytes(),
		CAKeyKey:    caKey,
		CertKey:     st.certPEM,
		KeyKey:      st.keyPEM,
	}, nil
}

func encodeKey(k crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encoding key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// newKey returns a new P-256 key and a random 127-bit serial number for
// the certificate of that key.
func newKey() (*ecdsa.PrivateKey, *big.Int, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return key, sn, err
}

func newCA(now time.Time, life time.Duration) (*x509.Certificate, crypto.Signer, error) {
	key, sn, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: caSubjectPrefix + now.UTC().Format("2006-01-02T15:04:05Z")},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(life),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating CA: %w", err)
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func issue(ca *x509.Certificate, caKey crypto.Signer, names []string, now time.Time, life time.Duration) (certPEM, keyPEM []byte, err error) {
	key, sn, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(life)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	var dns []string
	var ips []net.IP
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, n)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     dns,
		IPAddresses:  ips,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("issuing serving certificate: %w", err)
	}
	if keyPEM, err = encodeKey(key); err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

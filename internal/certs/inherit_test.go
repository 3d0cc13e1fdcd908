package certs

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// foreignCA is a CA another TLS mode made (cert-manager's, the chart's):
// its certificate, PEM, and a serving certificate it issued for names[0].
type foreignCA struct {
	cert    *x509.Certificate
	pem     []byte
	leafPEM []byte
}

func newForeignCA(t *testing.T, cn string, notBefore, notAfter time.Time, isCA bool) foreignCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter, BasicConstraintsValid: true, IsCA: isCA,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	f := foreignCA{cert: c, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	if isCA {
		if f.leafPEM, _, err = issue(c, key, names, notBefore, notAfter.Sub(notBefore)/2); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func join(parts ...[]byte) []byte { return bytes.Join(parts, []byte("\n")) }

// TestReconcileInheritsPublishedCAs: signet's first CA is published
// together with the CAs another TLS mode left in the webhook
// configurations — only those that parse, are CAs, are valid now and were
// not made by signet, without duplicates, at most MaxInheritedCAs — and
// they leave the bundle when they expire.
func TestReconcileInheritsPublishedCAs(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	valid := newForeignCA(t, "cert-manager CA", t0.Add(-day), t0.Add(90*day), true)
	other := newForeignCA(t, "tls.secret CA", t0.Add(-day), t0.Add(400*day), true)
	expired := newForeignCA(t, "expired CA", t0.Add(-10*day), t0.Add(-day), true)
	future := newForeignCA(t, "not yet valid CA", t0.Add(day), t0.Add(10*day), true)
	leaf := newForeignCA(t, "self-signed leaf", t0.Add(-day), t0.Add(10*day), false)
	ownPrevious, _, err := Reconcile(nil, opts(t0.Add(-day)))
	if err != nil {
		t.Fatal(err)
	}
	many := make([][]byte, 0, MaxInheritedCAs+2)
	for range MaxInheritedCAs + 2 {
		many = append(many, newForeignCA(t, "one of many", t0.Add(-day), t0.Add(day), true).pem)
	}
	garbage := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("a key")})

	for _, tt := range []struct {
		name      string
		data      map[string][]byte
		published []byte
		want      []*x509.Certificate // after signet's new CA
		inherited int                 // when want is nil
	}{
		{name: "nothing published", want: []*x509.Certificate{}},
		{name: "cert-manager's CA kept", published: valid.pem, want: []*x509.Certificate{valid.cert}},
		{name: "two CAs, in order", published: join(valid.pem, other.pem), want: []*x509.Certificate{valid.cert, other.cert}},
		{name: "expired, not yet valid and non-CA dropped", published: join(expired.pem, future.pem, leaf.pem, valid.pem), want: []*x509.Certificate{valid.cert}},
		{name: "unparsable blocks, keys and text skipped", published: join([]byte("junk"), garbage, key, other.pem), want: []*x509.Certificate{other.cert}},
		{name: "duplicates kept once", published: join(valid.pem, valid.pem, valid.pem), want: []*x509.Certificate{valid.cert}},
		{name: "signet's own previous CA not kept", published: join(ownPrevious[CABundleKey], valid.pem), want: []*x509.Certificate{valid.cert}},
		{name: "at most MaxInheritedCAs", published: join(many...), inherited: MaxInheritedCAs},
		{name: "unusable Secret: another mode's CA kept", data: map[string][]byte{CABundleKey: []byte("junk")}, published: valid.pem, want: []*x509.Certificate{valid.cert}},
		{name: "usable Secret: the published bundle is not read", data: ownPrevious, published: valid.pem, want: []*x509.Certificate{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := opts(t0)
			o.Published = tt.published
			got, _, err := Reconcile(tt.data, o)
			if err != nil {
				t.Fatal(err)
			}
			cas, err := parseCerts(got[CABundleKey])
			if err != nil || len(cas) == 0 {
				t.Fatalf("bundle: %v", err)
			}
			rest := cas[1:]
			if tt.want == nil {
				if len(rest) != tt.inherited {
					t.Fatalf("%d CAs inherited, want %d", len(rest), tt.inherited)
				}
				return
			}
			if len(rest) != len(tt.want) {
				t.Fatalf("%d CAs after signet's, want %d", len(rest), len(tt.want))
			}
			for i, c := range tt.want {
				if !rest[i].Equal(c) {
					t.Errorf("CA %d is %q, want %q", i+1, rest[i].Subject.CommonName, c.Subject.CommonName)
				}
			}
			verifyAt(t, got, t0, names[0])
			// The previous mode's serving certificate verifies against
			// the new bundle.
			for _, f := range []foreignCA{valid, other} {
				for _, c := range tt.want {
					if c.Equal(f.cert) {
						verifyAt(t, map[string][]byte{CertKey: f.leafPEM, CABundleKey: got[CABundleKey]}, t0, names[0])
					}
				}
			}
		})
	}

	t.Run("dropped when it expires", func(t *testing.T) {
		o := opts(t0)
		o.Published = valid.pem
		first, _, err := Reconcile(nil, o)
		if err != nil {
			t.Fatal(err)
		}
		o = opts(t0.Add(91 * day))
		o.Published = join(valid.pem, other.pem) // not read again: the Secret exists
		second, reason, err := Reconcile(first, o)
		if err != nil || reason != "expired CA removed from the bundle" {
			t.Fatalf("%q, %v", reason, err)
		}
		if bundleLen(t, second) != 1 || string(second[CAKeyKey]) != string(first[CAKeyKey]) {
			t.Fatal("bundle not pruned to signet's CA")
		}
	})
}

// TestManagerInheritsPublishedCAs: the first Sync publishes signet's CA
// with the one the webhook configurations held; a CA someone adds to them
// later is not adopted, but set back.
func TestManagerInheritsPublishedCAs(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	before := newForeignCA(t, "cert-manager CA", now.Add(-time.Hour), now.Add(24*time.Hour), true)
	later := newForeignCA(t, "planted CA", now.Add(-time.Hour), now.Add(24*time.Hour), true)
	store := &memStore{published: [][]byte{before.pem}}
	m := NewManager(store, Options{Names: names}, 0, nil)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	pub := store.published[len(store.published)-1]
	cas, err := parseCerts(pub)
	if err != nil || len(cas) != 2 || !cas[1].Equal(before.cert) {
		t.Fatalf("published %d CAs (%v), want signet's and cert-manager's", len(cas), err)
	}
	store.published = append(store.published, join(pub, later.pem))
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := store.published[len(store.published)-1]; !bytes.Equal(got, pub) {
		t.Fatalf("published after a CA was planted:\n%s\nwant:\n%s", got, pub)
	}
}

// TestCovers: a published caBundle stays when it holds all of signet's
// CAs and nothing expired — with another mode's CA added too — and is set
// to signet's bundle otherwise.
func TestCovers(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	own, _, err := Reconcile(nil, opts(now))
	if err != nil {
		t.Fatal(err)
	}
	rotated, _, err := Reconcile(own, Options{Names: names, Now: func() time.Time { return now.Add(2434 * day) }})
	if err != nil || bundleLen(t, rotated) != 2 {
		t.Fatalf("rotation: %v", err)
	}
	other := newForeignCA(t, "cert-manager CA", now.Add(-day), now.Add(90*day), true)
	expired := newForeignCA(t, "expired CA", now.Add(-10*day), now.Add(-day), true)
	bundle := own[CABundleKey]
	for _, tt := range []struct {
		name      string
		published []byte
		bundle    []byte
		want      bool
	}{
		{"the same bundle", bundle, bundle, true},
		{"with another mode's CA after it", join(bundle, other.pem), bundle, true},
		{"with another mode's CA before it", join(other.pem, bundle), bundle, true},
		{"empty", nil, bundle, false},
		{"another CA only", other.pem, bundle, false},
		{"the old CA only, after a rotation", bundle, rotated[CABundleKey], false},
		{"with an expired CA", join(bundle, expired.pem), bundle, false},
		{"with a block that does not parse", join(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")})), bundle, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Covers(tt.published, tt.bundle, now); got != tt.want {
				t.Errorf("Covers = %v, want %v", got, tt.want)
			}
		})
	}
}

package certs

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

var names = []string{"signet.signet.svc", "signet.signet.svc.cluster.local"}

func opts(now time.Time, dns ...string) Options {
	if dns == nil {
		dns = names
	}
	return Options{Names: dns, Now: func() time.Time { return now }}
}

// verifyAt checks that the serving certificate in data chains to the
// bundle in data at t for name.
func verifyAt(t *testing.T, data map[string][]byte, at time.Time, name string) {
	t.Helper()
	leaf, err := parseCerts(data[CertKey])
	if err != nil || len(leaf) != 1 {
		t.Fatalf("serving certificate: %v (%d)", err, len(leaf))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data[CABundleKey]) {
		t.Fatal("no CA in the bundle")
	}
	if _, err := leaf[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: at}); err != nil {
		t.Fatalf("serving certificate does not verify at %s: %v", at, err)
	}
}

func bundleLen(t *testing.T, data map[string][]byte) int {
	t.Helper()
	cs, err := parseCerts(data[CABundleKey])
	if err != nil {
		t.Fatal(err)
	}
	return len(cs)
}

func TestReconcile(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	initial, reason, err := Reconcile(nil, opts(t0))
	if err != nil || reason != "no certificate yet" {
		t.Fatalf("first Reconcile: %q, %v", reason, err)
	}
	verifyAt(t, initial, t0, names[0])
	verifyAt(t, initial, t0, names[1])
	day := 24 * time.Hour
	tests := []struct {
		name     string
		data     map[string][]byte
		now      time.Time
		dns      []string
		reason   string // "" unchanged
		sameCA   bool
		bundle   int
		verifyAs string
	}{
		{name: "fresh", data: initial, now: t0.Add(day), reason: "", sameCA: true, bundle: 1},
		{name: "just before serving renewal", data: initial, now: t0.Add(240 * day), reason: "", sameCA: true, bundle: 1},
		{name: "serving at 2/3 of its life", data: initial, now: t0.Add(245 * day), reason: "serving certificate due for renewal", sameCA: true, bundle: 1},
		{name: "IP address added", data: initial, now: t0.Add(day), dns: append(names[:2:2], "127.0.0.1"), reason: "serving certificate names changed", sameCA: true, bundle: 1, verifyAs: "127.0.0.1"},
		{name: "same names in another order", data: initial, now: t0.Add(day), dns: []string{names[1], names[0]}, reason: "", sameCA: true, bundle: 1},
		{name: "names changed", data: initial, now: t0.Add(day), dns: []string{"signet.other.svc"}, reason: "serving certificate names changed", sameCA: true, bundle: 1, verifyAs: "signet.other.svc"},
		{name: "CA at 2/3 of its life", data: initial, now: t0.Add(2434 * day), reason: "CA due for renewal", bundle: 2},
		{name: "unparsable", data: map[string][]byte{CABundleKey: []byte("junk")}, now: t0, reason: "stored certificate unusable: ca.crt: no CA certificate", bundle: 1},
		{name: "CA key of another CA", data: map[string][]byte{CABundleKey: initial[CABundleKey], CAKeyKey: initial[KeyKey]}, now: t0, reason: "stored certificate unusable: ca.key does not hold the key of the CA in ca.crt", bundle: 1},
		{name: "serving pair lost", data: map[string][]byte{CABundleKey: initial[CABundleKey], CAKeyKey: initial[CAKeyKey]}, now: t0.Add(day), reason: "new serving certificate", sameCA: true, bundle: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason, err := Reconcile(tt.data, opts(tt.now, tt.dns...))
			if err != nil {
				t.Fatal(err)
			}
			if reason != tt.reason {
				t.Fatalf("reason %q, want %q", reason, tt.reason)
			}
			if reason == "" && string(got[CertKey]) != string(tt.data[CertKey]) {
				t.Fatal("unchanged, but the serving certificate differs")
			}
			if tt.sameCA != (string(got[CAKeyKey]) == string(initial[CAKeyKey])) {
				t.Fatalf("CA kept: %v, want %v", !tt.sameCA, tt.sameCA)
			}
			if n := bundleLen(t, got); n != tt.bundle {
				t.Fatalf("bundle of %d CAs, want %d", n, tt.bundle)
			}
			as := tt.verifyAs
			if as == "" {
				as = names[0]
			}
			verifyAt(t, got, tt.now, as)
		})
	}
}

// TestCARotation follows a CA change: the old CA stays in the bundle so
// the old serving certificate still verifies, until the old CA expires.
func TestCARotation(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	o := opts(t0)
	o.CALifetime, o.ServingLifetime = 30*time.Hour, 29*time.Hour
	first, _, err := Reconcile(nil, o)
	if err != nil {
		t.Fatal(err)
	}
	// One hour of the CA's life is backdated: 2/3 of 31 h is at t0+19h40m.
	at := t0.Add(20 * time.Hour)
	o.Now = func() time.Time { return at }
	second, reason, err := Reconcile(first, o)
	if err != nil || reason != "CA due for renewal" {
		t.Fatalf("%q, %v", reason, err)
	}
	if bundleLen(t, second) != 2 {
		t.Fatal("old CA not kept in the bundle")
	}
	// A replica still serving the old CA's certificate verifies against
	// the new bundle.
	old := map[string][]byte{CertKey: first[CertKey], CABundleKey: second[CABundleKey]}
	verifyAt(t, old, at, names[0])
	verifyAt(t, second, at, names[0])
	if !strings.HasPrefix(string(second[CABundleKey]), "-----BEGIN CERTIFICATE-----") {
		t.Fatal("bundle is not PEM")
	}
	// The old CA expires at t0+30h: then it leaves the bundle.
	at = t0.Add(31 * time.Hour)
	third, reason, err := Reconcile(second, o)
	if err != nil || reason != "expired CA removed from the bundle" {
		t.Fatalf("%q, %v", reason, err)
	}
	if bundleLen(t, third) != 1 || string(third[CAKeyKey]) != string(second[CAKeyKey]) {
		t.Fatal("bundle not pruned to the current CA")
	}
}

func TestReconcileNoNames(t *testing.T) {
	if _, _, err := Reconcile(nil, Options{}); err == nil {
		t.Fatal("no error without DNS names")
	}
}

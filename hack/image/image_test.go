package main

import (
	"archive/tar"
	"errors"
	"io"
	"slices"
	"testing"
	"time"
)

func TestParsePlatforms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" = error
	}{
		{"linux/amd64,linux/arm64", "linux/amd64 linux/arm64"},
		{" linux/arm64 ", "linux/arm64"},
		{"linux/amd64,linux/amd64", ""},
		{"windows/amd64", ""},
		{"linux", ""},
		{"linux/", ""},
		{"linux/../x", ""},
		{"", ""},
	} {
		ps, err := parsePlatforms(tc.in)
		got := ""
		for i, p := range ps {
			if i > 0 {
				got += " "
			}
			got += p.String()
		}
		if (err == nil) != (tc.want != "") || got != tc.want && err == nil {
			t.Errorf("parsePlatforms(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestTagFor(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":              "v1.2.3",
		"v1.2.3-4-gabc-dirty": "v1.2.3-4-gabc-dirty",
		"v1.0.0+meta":         "v1.0.0-meta",
		"0a1b2c3":             "0a1b2c3",
		"-x":                  "v-x",
		"":                    "v",
	} {
		if got := tagFor(in); got != want {
			t.Errorf("tagFor(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, in := range []string{"1796378400", "2026-12-04T10:00:00Z", "2026-12-04T11:00:00+01:00"} {
		got, err := parseTime(in)
		if err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("parseTime(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := parseTime("yesterday"); err == nil {
		t.Error("parseTime(yesterday): no error")
	}
}

// TestLayersReproducible: a layer's digest depends on its contents and the
// time given, nothing else (not the clock, not the order of map keys), and
// its headers carry only what the image needs.
func TestLayersReproducible(t *testing.T) {
	created := time.Unix(1796378400, 0).UTC()
	ca := []byte("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n")
	a, err := baseLayer(created, ca)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // a clock that leaked into a header would differ
	b, err := baseLayer(created, ca)
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Fatalf("two base layers: %s and %s", da, db)
	}
	c, err := baseLayer(created.Add(time.Second), ca)
	if err != nil {
		t.Fatal(err)
	}
	if dc, _ := c.Digest(); dc == da {
		t.Error("the creation time does not reach the layer")
	}
	rc, err := a.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if !h.ModTime.Equal(created) || h.Uname != "" || h.Gname != "" || len(h.PAXRecords) > 0 || h.Format != tar.FormatUSTAR {
			t.Errorf("%s: %+v", h.Name, h)
		}
	}
	want := []string{"etc/", "etc/group", "etc/passwd", "etc/ssl/", "etc/ssl/certs/", "etc/ssl/certs/ca-certificates.crt", "home/", "home/nonroot/", "tmp/"}
	if !slices.Equal(names, want) {
		t.Fatalf("entries %v, want %v", names, want)
	}
}

package imageref

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	d := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		in, norm, registry, name, tag, digest string
	}{
		{"nginx", "docker.io/library/nginx:latest", "docker.io", "docker.io/library/nginx", "latest", ""},
		{"nginx:1.25", "docker.io/library/nginx:1.25", "docker.io", "docker.io/library/nginx", "1.25", ""},
		{"library/nginx", "docker.io/library/nginx:latest", "docker.io", "docker.io/library/nginx", "latest", ""},
		{"docker.io/nginx", "docker.io/library/nginx:latest", "docker.io", "docker.io/library/nginx", "latest", ""},
		{"index.docker.io/library/nginx", "docker.io/library/nginx:latest", "docker.io", "docker.io/library/nginx", "latest", ""},
		{"Docker.IO/acme/app:v1", "docker.io/acme/app:v1", "docker.io", "docker.io/acme/app", "v1", ""},
		{"acme/app@" + d, "docker.io/acme/app@" + d, "docker.io", "docker.io/acme/app", "", d},
		{"acme/app:v1@" + d, "docker.io/acme/app:v1@" + d, "docker.io", "docker.io/acme/app", "v1", d},
		{"GHCR.io/acme/app:V1", "ghcr.io/acme/app:V1", "ghcr.io", "ghcr.io/acme/app", "V1", ""},
		{"localhost:5000/app", "localhost:5000/app:latest", "localhost:5000", "localhost:5000/app", "latest", ""},
		{"127.0.0.1:5000/a/b/c:tag", "127.0.0.1:5000/a/b/c:tag", "127.0.0.1:5000", "127.0.0.1:5000/a/b/c", "tag", ""},
		{"[::1]:5000/app:v1", "[::1]:5000/app:v1", "[::1]:5000", "[::1]:5000/app", "v1", ""},
		// Spellings a container runtime reaches the same registry by.
		{"ghcr.io:443/acme/app:v1", "ghcr.io/acme/app:v1", "ghcr.io", "ghcr.io/acme/app", "v1", ""},
		{"ghcr.io:80/acme/app:v1", "ghcr.io/acme/app:v1", "ghcr.io", "ghcr.io/acme/app", "v1", ""},
		{"GHCR.io:00443/acme/app:v1", "ghcr.io/acme/app:v1", "ghcr.io", "ghcr.io/acme/app", "v1", ""},
		{"ghcr.io:8443/acme/app", "ghcr.io:8443/acme/app:latest", "ghcr.io:8443", "ghcr.io:8443/acme/app", "latest", ""},
		{"localhost:05000/app", "localhost:5000/app:latest", "localhost:5000", "localhost:5000/app", "latest", ""},
		{"docker.io:443/nginx", "docker.io/library/nginx:latest", "docker.io", "docker.io/library/nginx", "latest", ""},
		{"index.docker.io:443/nginx", "docker.io/library/nginx:latest", "docker.io", "docker.io/library/nginx", "latest", ""},
		{"registry-1.docker.io/nginx:1", "docker.io/library/nginx:1", "docker.io", "docker.io/library/nginx", "1", ""},
		{"REGISTRY-1.DOCKER.IO:80/acme/app", "docker.io/acme/app:latest", "docker.io", "docker.io/acme/app", "latest", ""},
		{"index.docker.io:5000/nginx", "index.docker.io:5000/nginx:latest", "index.docker.io:5000", "index.docker.io:5000/nginx", "latest", ""},
		{"[0:0::0001]:5000/app", "[::1]:5000/app:latest", "[::1]:5000", "[::1]:5000/app", "latest", ""},
		{"[FE80::A]:443/app", "[fe80::a]/app:latest", "[fe80::a]", "[fe80::a]/app", "latest", ""},
		{"[::ffff:7f00:1]:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000", "127.0.0.1:5000/app", "latest", ""},
		{"127.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000", "127.0.0.1:5000/app", "latest", ""},
		{"0x7f.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000", "127.0.0.1:5000/app", "latest", ""},
		{"2130706433:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000", "127.0.0.1:5000/app", "latest", ""},
		{"0177.0.0.01:5000/app", "127.0.0.1:5000/app:latest", "127.0.0.1:5000", "127.0.0.1:5000/app", "latest", ""},
		{"10.1.1.1.1:5000/app", "10.1.1.1.1:5000/app:latest", "10.1.1.1.1:5000", "10.1.1.1.1:5000/app", "latest", ""},
		{"08.1:5000/app", "08.1:5000/app:latest", "08.1:5000", "08.1:5000/app", "latest", ""},
		{"MyReg:80/app", "myreg:443/app:latest", "myreg:443", "myreg:443/app", "latest", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			r, err := Parse(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != tc.norm || r.Registry() != tc.registry || r.Name() != tc.name || r.Tag != tc.tag || r.Digest != tc.digest {
				t.Errorf("got %q reg=%q name=%q tag=%q digest=%q", r.String(), r.Registry(), r.Name(), r.Tag, r.Digest)
			}
			if r.Original != tc.in {
				t.Errorf("Original = %q", r.Original)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"", " nginx", "nginx ", "NGINX", "ghcr.io/Acme/app", "nginx@sha256:abc", "nginx@md5:" + strings.Repeat("a", 32),
		"nginx:", "nginx:-bad", "a//b", "nginx@", strings.Repeat("a", 600), "nginx:" + strings.Repeat("t", 129),
		"ghcr.io/acme/app:v1:v2", "ghcr.io/acme/app@sha256:" + strings.Repeat("g", 64),
		"ghcr.іo/acme/app", "ｇhcr.io/acme/app", "ghcr.io./acme/app", "-ghcr.io/acme/app", "ghcr..io/acme/app", "ghcr.io:/acme/app", "ghcr_io.com:5000/acme/app",
		"ghcr.io:0/acme/app", "ghcr.io:65536/acme/app", "ghcr.io:99999999999999999999/acme/app", "[::1::2]:5000/app", "[]:5000/app",
	} {
		if r, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %q, want error", in, r.String())
		} else if !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) error does not wrap ErrInvalid: %v", in, err)
		}
	}
}

func TestAccess(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ghcr.io/a/b:v1":                   "ghcr.io/a/b:v1",
		"GHCR.io:443/a/b:v1":               "ghcr.io:443/a/b:v1",
		"ghcr.io:0080/a/b":                 "ghcr.io:80/a/b:latest",
		"myreg:80/a":                       "myreg:80/a:latest",
		"myreg:443/a":                      "myreg:443/a:latest",
		"registry-1.docker.io:443/nginx:1": "docker.io/library/nginx:1",
		"[::1]:443/a":                      "[::1]:443/a:latest",
		"127.1:5000/a":                     "127.0.0.1:5000/a:latest",
	} {
		r, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Access(); got != want {
			t.Errorf("Access(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPinned(t *testing.T) {
	t.Parallel()
	d := "sha256:" + strings.Repeat("cd", 32)
	r, err := Parse("nginx:1.25")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Pinned(d); got != "docker.io/library/nginx@"+d {
		t.Errorf("Pinned = %q", got)
	}
	dr, err := r.DigestRef(d)
	if err != nil || dr.DigestStr() != d || dr.Context().Name() != "index.docker.io/library/nginx" {
		t.Errorf("DigestRef = %v, %v", dr, err)
	}
}

// FuzzParse: a parsed reference re-parses to itself (normalisation is
// idempotent), so matching and registry access see the same name; its
// registry is a fixed point of NormaliseHost; and the registry written
// another way the runtime treats alike (upper case, a default port written
// out, leading zeros) parses to the same reference.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"nginx", "ghcr.io/a/b:c", "localhost:5000/x@sha256:" + strings.Repeat("a", 64), "[::1]:5000/a",
		"ghcr.io:443/a/b", "GHCR.io:0080/a", "docker.io:443/nginx", "registry-1.docker.io/library/x:1",
		"[0:0::ffff:7f00:1]:5000/a", "127.1:5000/a", "0x7f.0.0.1:5000/a", "2130706433:5000/a", "index.docker.io:5000/a",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		r2, err := Parse(r.String())
		if err != nil {
			t.Fatalf("normalised %q of %q does not parse: %v", r.String(), s, err)
		}
		if r2.String() != r.String() {
			t.Fatalf("not idempotent: %q → %q → %q", s, r.String(), r2.String())
		}
		if h, err := NormaliseHost(r.Registry()); err != nil || h != r.Registry() {
			t.Fatalf("NormaliseHost(%q) = %q, %v", r.Registry(), h, err)
		}
		// The registry as written, respelt.
		host, rest, ok := strings.Cut(s, "/")
		if !ok || !strings.ContainsAny(host, ".:[") {
			return
		}
		name, port := SplitPort(host)
		alts := []string{strings.ToUpper(name) + ":" + port, name + ":0" + port}
		if port == "" {
			alts = []string{strings.ToUpper(name), name + ":443", name + ":80"}
		}
		for _, alt := range alts {
			r3, err := Parse(alt + "/" + rest)
			if err != nil {
				t.Fatalf("%q parses, but %q: %v", s, alt+"/"+rest, err)
			}
			if r3.String() != r.String() {
				t.Fatalf("%q is %q, but %q is %q", s, r, alt+"/"+rest, r3)
			}
		}
	})
}

func TestNormaliseHost(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"ghcr.io": "ghcr.io", "GHCR.IO:443": "ghcr.io", "ghcr.io:80": "ghcr.io", "ghcr.io:0443": "ghcr.io", "ghcr.io:8443": "ghcr.io:8443",
		"docker.io": "docker.io", "index.docker.io:443": "docker.io", "Registry-1.Docker.io:80": "docker.io", "index.docker.io:5000": "index.docker.io:5000",
		"[::1]": "[::1]", "[0000:0::1]:443": "[::1]", "[::FFFF:7f00:1]:5000": "127.0.0.1:5000", "[2001:DB8::1]:5000": "[2001:db8::1]:5000",
		"127.0.0.1": "127.0.0.1", "127.1": "127.0.0.1", "0x7F.1:5000": "127.0.0.1:5000", "017700000001:5000": "127.0.0.1:5000", "10.0x10000:1": "10.1.0.0:1",
		"myreg:443": "myreg:443", "MyReg:80": "myreg:443", "myreg:0443": "myreg:443", "myreg:5000": "myreg:5000", "localhost:443": "localhost",
		"4294967295:1": "255.255.255.255:1", "4294967296:1": "4294967296:1", "256.1.1.1": "256.1.1.1", "1.2.3.4.5": "1.2.3.4.5", "09.1": "09.1",
	} {
		if got, err := NormaliseHost(in); err != nil || got != want {
			t.Errorf("NormaliseHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ghcr.io:", "ghcr.io:0", "ghcr.io:65536", "ghcr.io/x", "[::1", "[g::1]", "ghcr.іo", "a..b", "-a.b"} {
		if got, err := NormaliseHost(in); err == nil {
			t.Errorf("NormaliseHost(%q) = %q, want an error", in, got)
		}
	}
}

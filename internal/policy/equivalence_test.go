package policy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/testutil"
)

// image is a generated image reference as a container runtime sees it: the
// registry (a host name, an IPv4 or IPv6 address, or Docker Hub), a port
// (0: the default), a repository path, a tag and a digest. spell writes it
// in one of the many ways the runtime pulls identically.
type image struct {
	kind        int // hostName, ipv4, ipv6, dockerHub
	host        string
	addr        netip.Addr
	port        int
	path        []string
	tag, digest string
}

const (
	hostName = iota
	ipv4
	ipv6
	dockerHub
)

var (
	genHosts   = []string{"ghcr.io", "registry.example.com", "localhost", "quay.io", "eu.gcr.io", "reg.local", "myreg"}
	genAddrs   = []string{"127.0.0.1", "10.0.0.1", "192.168.1.20", "::1", "fe80::a", "2001:db8::1"}
	genPorts   = []int{0, 0, 0, 5000, 8443, 443 + 1, 80 + 8000}
	genComps   = []string{"acme", "app", "library", "nginx", "team-x", "x_y", "a9"}
	genTags    = []string{"", "latest", "v1", "v1.2", "debug-1", "V1"}
	genDigests = []string{"", "sha256:" + strings.Repeat("ab", 32), "sha256:" + strings.Repeat("cd", 32)}
)

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func genImage(r *rand.Rand) image {
	var g image
	g.kind = r.IntN(4)
	switch g.kind {
	case hostName:
		g.host = pick(r, genHosts)
	case ipv4, ipv6:
		g.addr = netip.MustParseAddr(pick(r, genAddrs))
		if r.IntN(3) == 0 { // and some random ones
			var b [16]byte
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
			b[0] = 0x20 // not an IPv4-mapped address
			g.addr = netip.AddrFrom16(b)
			if r.IntN(2) == 0 {
				g.addr = netip.AddrFrom4([4]byte{b[1], b[2], b[3], b[4]})
			}
		}
		if g.addr.Is4() {
			g.kind = ipv4
		} else {
			g.kind = ipv6
		}
	}
	if g.kind != dockerHub {
		g.port = pick(r, genPorts)
	}
	for range 1 + r.IntN(3) {
		g.path = append(g.path, pick(r, genComps))
	}
	if g.kind == dockerHub && len(g.path) == 1 {
		g.path = []string{"library", g.path[0]}
	}
	g.tag, g.digest = pick(r, genTags), pick(r, genDigests)
	if g.tag == "" && g.digest == "" {
		g.tag = "latest"
	}
	return g
}

// identity is what makes two images the same to the runtime.
func (g image) identity() string {
	return fmt.Sprint(g.kind, g.host, g.addr, g.port, g.path)
}

// randomCase changes the case of some letters (host names are
// case-insensitive).
func randomCase(r *rand.Rand, s string) string {
	b := []byte(s)
	for i := range b {
		if r.IntN(3) == 0 {
			b[i] = strings.ToUpper(string(b[i]))[0]
		}
	}
	return string(b)
}

// spellPort writes a port: a default one as nothing, 443 or 80; any with
// leading zeros sometimes.
func spellPort(r *rand.Rand, port int, need bool) string {
	if port == 0 {
		switch r.IntN(3) {
		case 0:
			if !need {
				return ""
			}
			fallthrough
		case 1:
			port = 443
		default:
			port = 80
		}
	}
	return ":" + strings.Repeat("0", r.IntN(3)*r.IntN(2)) + strconv.Itoa(port)
}

// spellIPv4 writes an IPv4 address as inet_aton reads it, and whether the
// spelling needs a port to be read as a host (it has no ".").
func spellIPv4(r *rand.Rand, a netip.Addr) (string, bool) {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	num := func(n uint32) string {
		switch r.IntN(3) {
		case 0:
			return "0x" + strconv.FormatUint(uint64(n), 16)
		case 1:
			return "0" + strconv.FormatUint(uint64(n), 8)
		}
		return strconv.FormatUint(uint64(n), 10)
	}
	switch r.IntN(5) {
	case 0:
		return num(v), true
	case 1:
		return num(v>>24) + "." + num(v&0xffffff), false
	case 2:
		return num(v>>24) + "." + num(v>>16&0xff) + "." + num(v&0xffff), false
	case 3:
		return num(v>>24) + "." + num(v>>16&0xff) + "." + num(v>>8&0xff) + "." + num(v&0xff), false
	}
	return a.String(), false
}

// spellIPv6 writes an IPv6 address with or without zero compression,
// leading zeros and upper case.
func spellIPv6(r *rand.Rand, a netip.Addr) string {
	if r.IntN(2) == 0 && !a.Is4In6() { // (netip writes those with dots)
		return "[" + randomCase(r, a.String()) + "]"
	}
	b := a.As16()
	var groups []string
	for i := 0; i < 16; i += 2 {
		g := strconv.FormatUint(uint64(b[i])<<8|uint64(b[i+1]), 16)
		groups = append(groups, strings.Repeat("0", r.IntN(5-len(g)))+g)
	}
	return "[" + randomCase(r, strings.Join(groups, ":")) + "]"
}

// spellHost writes the registry; "" for Docker Hub written without one.
func (g image) spellHost(r *rand.Rand) string {
	switch g.kind {
	case dockerHub:
		h := pick(r, []string{"", "docker.io", "index.docker.io", "registry-1.docker.io"})
		if h == "" {
			return ""
		}
		return randomCase(r, h) + spellPort(r, 0, false)
	case ipv4:
		if r.IntN(4) == 0 { // IPv4-mapped IPv6
			return spellIPv6(r, netip.AddrFrom16(g.addr.As16())) + spellPort(r, g.port, false)
		}
		h, needPort := spellIPv4(r, g.addr)
		return h + spellPort(r, g.port, needPort)
	case ipv6:
		return spellIPv6(r, g.addr) + spellPort(r, g.port, false)
	}
	if g.host == "localhost" {
		// "LOCALHOST/app" is a registry to docker but a Docker Hub path
		// to go-containerregistry: signet refuses it (denied).
		return g.host + spellPort(r, g.port, false)
	}
	// A one-label name is a registry only with a port.
	return randomCase(r, g.host) + spellPort(r, g.port, !strings.Contains(g.host, "."))
}

// spell writes the image one way the runtime pulls it.
func (g image) spell(r *rand.Rand) string {
	path := slices.Clone(g.path)
	host := g.spellHost(r)
	if g.kind == dockerHub && len(path) == 2 && path[0] == "library" && r.IntN(2) == 0 {
		path = path[1:]
	}
	s := strings.Join(path, "/")
	if host != "" {
		s = host + "/" + s
	}
	if g.tag != "" && (g.tag != "latest" || g.digest != "" || r.IntN(2) == 0) {
		s += ":" + g.tag
	}
	if g.digest != "" {
		s += "@" + g.digest
	}
	return s
}

// genPattern writes a pattern for g: spelt as g could be, with some parts
// replaced by wildcards, a tag or tag glob, a digest.
func genPattern(r *rand.Rand, g image) string {
	s := g.spell(r)
	s, _, _ = strings.Cut(s, "@")
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		s = s[:i]
	}
	comps := strings.Split(s, "/")
	for i := range comps {
		switch r.IntN(8) {
		case 0:
			comps[i] = "*"
		case 1:
			if !strings.HasPrefix(comps[i], "[") { // brackets stay whole
				comps[i] = comps[i][:r.IntN(len(comps[i])+1)] + "*"
			}
		case 2:
			if i == 0 {
				if h, p := imageref.SplitPort(comps[0]); p != "" && !strings.Contains(h, "[") {
					comps[0] = h + ":*"
				}
			}
		}
	}
	if r.IntN(6) == 0 {
		comps = append(comps[:1+r.IntN(len(comps))], "**")
	}
	s = strings.Join(comps, "/")
	if r.IntN(5) == 0 {
		s = "**"
	}
	switch r.IntN(4) {
	case 0:
		s += ":" + pick(r, []string{"v1", "v*", "*", "debug-*", "latest"})
	case 1:
		s += "@" + pick(r, genDigests[1:])
	}
	return s
}

// TestEquivalentSpellingsSameRule: two references a container runtime
// pulls identically — registry host case, default ports written or not,
// ports with leading zeros, IPv4 and IPv6 address spellings, Docker Hub's
// names and library/, ":latest" — always get the same rule and decision,
// under a policy of many patterns spelt as variously; and references to
// different images never share a normalised name.
func TestEquivalentSpellingsSameRule(t *testing.T) {
	t.Parallel()
	seed := uint64(20261204)
	r := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d", seed)

	var rules strings.Builder
	seen := map[string]bool{}
	validators := []string{"allow", "deny", "signed"}
	for len(seen) < 150 {
		p := genPattern(r, genImage(r))
		cp, err := policy.CompilePattern(p)
		if err != nil {
			t.Fatalf("generated pattern %q: %v", p, err)
		}
		if seen[cp.Normalised()] {
			continue
		}
		seen[cp.Normalised()] = true
		fmt.Fprintf(&rules, "- {pattern: %q, validator: %s}\n", p, validators[len(seen)%3])
	}
	eng := engine(t, testutil.NewKey(t), rules.String())
	// A context already done: static rules decide, and whatever needs the
	// network is inconclusive at once, the same way for every spelling.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	matched := 0
	for range 3000 {
		g := genImage(r)
		a, b := g.spell(r), g.spell(r)
		ra, err := imageref.Parse(a)
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		rb, err := imageref.Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if ra.String() != rb.String() {
			t.Fatalf("%s and %s normalise to %s and %s", a, b, ra, rb)
		}
		pa, va, oka := eng.Match(ra)
		pb, vb, okb := eng.Match(rb)
		if pa != pb || va != vb || oka != okb {
			t.Fatalf("%s matches %q (%s, %v) but %s matches %q (%s, %v)", a, pa, va, oka, b, pb, vb, okb)
		}
		da, db := eng.Evaluate(ctx, a), eng.Evaluate(ctx, b)
		// (Reasons may differ: a registry error names the port connected to.)
		if da.Rule != db.Rule || da.Allowed != db.Allowed || da.Outcome != db.Outcome || da.Reference != db.Reference {
			t.Fatalf("%s: %s %v %s (%s)\n%s: %s %v %s (%s)", a, da.Rule, da.Allowed, da.Outcome, da.Reason, b, db.Rule, db.Allowed, db.Outcome, db.Reason)
		}
		if da.Rule != "" {
			matched++
		}
		// Patterns normalise as references do: the repository, spelt
		// another way, is a pattern that matches.
		lit, _, _ := strings.Cut(g.spell(r), "@")
		if i := strings.LastIndexByte(lit, ':'); i > strings.LastIndexByte(lit, '/') {
			lit = lit[:i]
		}
		if p, err := policy.CompilePattern(lit); err != nil || !p.Match(ra) {
			t.Fatalf("pattern %q (%v) does not match %s", lit, err, a)
		}
		// And no folding of what differs.
		h := genImage(r)
		rh, err := imageref.Parse(h.spell(r))
		if err != nil {
			t.Fatal(err)
		}
		if (rh.Name() == ra.Name()) != (h.identity() == g.identity()) {
			t.Fatalf("%s and %s: names %s and %s, identities %s and %s", a, h.spell(r), ra.Name(), rh.Name(), g.identity(), h.identity())
		}
	}
	if matched < 300 {
		t.Errorf("only %d of 3000 images matched a rule: the policy does not exercise matching", matched)
	}
	t.Logf("%d of 3000 images matched a rule", matched)
}

package imageref

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// dockerHubAliases are the names of Docker Hub's registry: the one the
// Docker CLI and containerd write ("docker.io"), the one its API answers on
// ("registry-1.docker.io") and the legacy one go-containerregistry uses
// ("index.docker.io").
var dockerHubAliases = map[string]bool{DockerHub: true, "index.docker.io": true, "registry-1.docker.io": true}

// NormaliseHost returns the registry's identity: the form of host[:port]
// that every spelling a container runtime reaches the same registry by
// shares. It is what policy patterns are matched against, and every part of
// signet that compares registry hosts (patterns, credentials' scopes,
// insecure registries) must compare these.
//
//   - the host is lower-cased (DNS names are case-insensitive);
//   - a port is read as a number ("0443" is 443; 0 and ports above 65535
//     are errors) and the default ports 443 (HTTPS) and 80 (plain HTTP)
//     are dropped: "ghcr.io:443" and "ghcr.io:80" are "ghcr.io" — but a
//     one-label name other than localhost, a registry only when written
//     with a port, keeps ":443" for either ("myreg:80" is "myreg:443");
//   - an IPv6 address is written in its RFC 5952 form ("[0:0::1]" is
//     "[::1]"), an IPv4-mapped one as IPv4 ("[::ffff:7f00:1]" is
//     "127.0.0.1");
//   - an IPv4 address written in any form the C library's resolver reads as
//     one (inet_aton: "127.1", "0x7f.0.0.1", "2130706433", "0177.0.0.1") is
//     written as a dotted quad;
//   - Docker Hub's names ("docker.io", "index.docker.io",
//     "registry-1.docker.io", each with or without a default port) are
//     "docker.io".
//
// It fails for anything that is not a host[:port] of the OCI distribution
// grammar.
func NormaliseHost(host string) (string, error) {
	h, err := accessHost(host)
	if err != nil {
		return "", err
	}
	return identity(h), nil
}

// IsDockerHub reports whether a normalised host is Docker Hub.
func IsDockerHub(host string) bool { return host == DockerHub }

// accessHost is host[:port] as signet connects to it: NormaliseHost's form
// except that a port written other than for Docker Hub is kept, so that
// signet reads from where the runtime would.
func accessHost(host string) (string, error) {
	if !hostRE.MatchString(host) {
		return "", fmt.Errorf("registry host %q does not follow the OCI distribution grammar", host)
	}
	name, port := SplitPort(host)
	name, err := normaliseName(name)
	if err != nil {
		return "", fmt.Errorf("registry host %q: %v", host, err)
	}
	if port != "" {
		if port, err = canonicalPort(port); err != nil {
			return "", fmt.Errorf("registry host %q: %v", host, err)
		}
	}
	if dockerHubAliases[name] && isDefaultPort(port) {
		return DockerHub, nil
	}
	if port != "" {
		return name + ":" + port, nil
	}
	return name, nil
}

// SplitPort splits host[:port] into the host name (or bracketed IPv6
// address) and the port, empty when none is written.
func SplitPort(host string) (name, port string) {
	if i := strings.LastIndexByte(host, ':'); i > strings.LastIndexByte(host, ']') {
		return host[:i], host[i+1:]
	}
	return host, ""
}

// NormaliseName normalises a registry host name without its port as
// NormaliseHost does (case, IP address spellings), leaving Docker Hub's
// aliases as they are: with a port other than the default ones they are
// other registries. Policy patterns with a wildcard port use it.
func NormaliseName(name string) (string, error) {
	if _, port := SplitPort(name); port != "" || !hostRE.MatchString(name) {
		return "", fmt.Errorf("registry host %q does not follow the OCI distribution grammar", name)
	}
	return normaliseName(name)
}

func normaliseName(name string) (string, error) {
	name = strings.ToLower(name)
	if strings.HasPrefix(name, "[") {
		a, err := netip.ParseAddr(name[1 : len(name)-1])
		if err != nil {
			return "", err
		}
		if a = a.Unmap(); a.Is4() {
			return a.String(), nil
		}
		return "[" + a.String() + "]", nil
	}
	if ip, ok := inetAton(name); ok {
		return ip, nil
	}
	return name, nil
}

// NormalisePort returns a registry port as NormaliseHost writes it: the
// number without leading zeros, and "" for the default ports 443 and 80.
func NormalisePort(port string) (string, error) {
	p, err := canonicalPort(port)
	if err != nil || isDefaultPort(p) {
		return "", err
	}
	return p, nil
}

func canonicalPort(port string) (string, error) {
	p := strings.TrimLeft(port, "0")
	n, err := strconv.Atoi(p)
	if len(p) > 5 || err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q is not a number between 1 and 65535", port)
	}
	return strconv.Itoa(n), nil
}

// identity drops a default port from an accessHost — except from a
// one-label name other than localhost, which is a registry only with a
// port ("myreg/app" is a Docker Hub repository): its default port is
// written ":443", whichever was.
func identity(h string) string {
	name, port := SplitPort(h)
	switch {
	case !isDefaultPort(port):
		return h
	case !strings.ContainsAny(name, ".[") && name != "localhost":
		return name + ":443"
	}
	return name
}

// isDefaultPort: no port, or the port of HTTPS or of plain HTTP.
func isDefaultPort(p string) bool { return p == "" || p == "443" || p == "80" }

// inetAton reads s as the C library's inet_aton does — one to four parts,
// each decimal, octal (leading 0) or hexadecimal (leading 0x), the last
// filling the remaining bytes — and returns the dotted quad. getaddrinfo,
// which a runtime built with cgo resolves hosts with, accepts these forms,
// and so does the WHATWG URL standard.
func inetAton(s string) (string, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return "", false
	}
	var v uint64
	for i, p := range parts {
		base := 10
		switch {
		case len(p) > 1 && (p[1] == 'x' || p[1] == 'X') && p[0] == '0':
			base, p = 16, p[2:]
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base = 8
		}
		if p == "" {
			return "", false
		}
		n, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return "", false
		}
		last := i == len(parts)-1
		if !last && n > 255 {
			return "", false
		}
		if last {
			if n >= 1<<(8*(5-len(parts))) {
				return "", false
			}
			v = v<<(8*(5-len(parts))) | n
		} else {
			v = v<<8 | n
		}
	}
	return fmt.Sprintf("%d.%d.%d.%d", byte(v>>24), byte(v>>16), byte(v>>8), byte(v)), true
}

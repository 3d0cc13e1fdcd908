package policy

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// checkInsecureRegistries checks insecureRegistries: each entry a host
// (a DNS name or an IP address) with an optional port, nothing else — no
// scheme, path or wildcard —, each once. It returns the entries, host
// names in lower case.
func checkInsecureRegistries(hosts []string, p *problems) []string {
	out := make([]string, 0, len(hosts))
	seen := map[string]int{}
	for i, h := range hosts {
		f := fmt.Sprintf("insecureRegistries[%d]", i)
		norm, err := hostPort(h)
		if err != nil {
			p.add(f, "must be a registry host or host:port (no scheme, path or wildcard), exactly as images name it: %v", err)
			continue
		}
		if j, dup := seen[norm]; dup {
			p.add(f, "%q is listed twice (also insecureRegistries[%d])", h, j)
			continue
		}
		seen[norm] = i
		out = append(out, norm)
	}
	return out
}

// hostPort checks one host[:port] and returns it with the host in lower
// case.
func hostPort(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty")
	}
	if strings.ContainsAny(s, "*?/@ \t") || strings.Contains(s, "://") {
		return "", fmt.Errorf("%q is not a host[:port]", s)
	}
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return "", fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
		}
	} else if strings.Contains(s, ":") {
		return "", fmt.Errorf("%q is not a host[:port] (an IPv6 address needs brackets and a port)", s)
	}
	host = strings.ToLower(host)
	if net.ParseIP(host) == nil {
		if errs := validation.IsDNS1123Subdomain(host); len(errs) > 0 {
			return "", fmt.Errorf("%q: %s", host, strings.Join(errs, "; "))
		}
	} else if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port == "" {
		return host, nil
	}
	return host + ":" + port, nil
}

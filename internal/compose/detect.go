package compose

import "bytes"

// Detect reports whether data is a Compose file rather than Kubernetes
// manifests: a YAML (or JSON) mapping with a top-level services key and no
// top-level apiVersion or kind. It reads the top-level keys of the first
// document only, byte by byte without parsing values or allocating, so a
// huge manifest stream costs one pass at most.
func Detect(data []byte) bool {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return detectJSON(t)
	}
	services, kube, content := false, false, false
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 || line[0] == '#' || line[0] == ' ' || line[0] == '\t' || line[0] == '%' {
			continue
		}
		if marker(line, "---") {
			if content {
				break
			}
			continue
		}
		if marker(line, "...") {
			break
		}
		content = true
		switch topKey(line) {
		case "services":
			services = true
		case "apiVersion", "kind":
			kube = true
		}
	}
	return services && !kube
}

// marker reports whether line is the document marker m.
func marker(line []byte, m string) bool {
	return bytes.HasPrefix(line, []byte(m)) && (len(line) == len(m) || line[len(m)] == ' ' || line[len(m)] == '\t')
}

// topKey returns the key of a top-level "key: value" line, "" when the line
// is not one.
func topKey(line []byte) string {
	var key, rest []byte
	if q := line[0]; q == '"' || q == '\'' {
		end := bytes.IndexByte(line[1:], q)
		if end < 0 {
			return ""
		}
		key, rest = line[1:1+end], line[2+end:]
	} else {
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			return ""
		}
		key, rest = bytes.TrimRight(line[:i], " \t"), line[i:]
	}
	rest = bytes.TrimLeft(rest, " \t")
	if len(rest) == 0 || rest[0] != ':' || (len(rest) > 1 && rest[1] != ' ' && rest[1] != '\t') {
		return ""
	}
	switch string(key) { // no allocation: compared, not kept
	case "services":
		return "services"
	case "apiVersion":
		return "apiVersion"
	case "kind":
		return "kind"
	}
	return "-"
}

// detectJSON scans the top-level keys of the JSON object data starts with.
func detectJSON(data []byte) bool {
	services, kube := false, false
	depth, inString, escaped, expectKey := 0, false, false, false
	start := 0
	for i, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
				if depth == 1 && expectKey {
					switch string(data[start:i]) {
					case "services":
						services = true
					case "apiVersion", "kind":
						kube = true
					}
					expectKey = false
				}
			}
			continue
		}
		switch c {
		case '"':
			inString, start = true, i+1
		case '{', '[':
			depth++
			expectKey = c == '{' && depth == 1
		case '}', ']':
			depth--
			if depth <= 0 {
				return services && !kube
			}
		case ',':
			expectKey = depth == 1
		case ':':
			expectKey = false
		}
	}
	return false
}

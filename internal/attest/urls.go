package attest

import (
	"fmt"
	"net/url"
	"reflect"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// The URL functions of Kubernetes' CEL (k8s.io/apiserver/pkg/cel/library,
// URLs), with the same names, type and semantics, so that a condition
// written for a ValidatingAdmissionPolicy reads the same here:
//
//	url(string) → URL        what net/url.ParseRequestURI accepts (an absolute URI or path), else an error
//	isURL(string) → bool
//	URL.getScheme(), getHost() (host:port, IPv6 in brackets),
//	getHostname() (no port, IPv6 without brackets), getPort(),
//	getEscapedPath() → string
//	URL.getQuery() → map(string, list(string))
//
// Kubernetes' library itself needs a cel-go version whose cost tracking
// is quadratic in a loop's length (doc.go); these few functions over
// net/url are bound to the cel-go signet uses instead.

// urlType is the CEL type of url(): Kubernetes' name for it.
var urlType = types.NewOpaqueType("kubernetes.URL")

// urlValue is a parsed URL as a CEL value.
type urlValue struct{ u *url.URL }

func (v urlValue) ConvertToNative(typeDesc reflect.Type) (any, error) {
	if reflect.TypeOf(v.u).AssignableTo(typeDesc) {
		return v.u, nil
	}
	if reflect.TypeOf("").AssignableTo(typeDesc) {
		return v.u.String(), nil
	}
	return nil, fmt.Errorf("type conversion error from URL to %v", typeDesc)
}

func (v urlValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case urlType:
		return v
	case types.TypeType:
		return urlType
	case types.StringType:
		return types.String(v.u.String())
	}
	return types.NewErr("type conversion error from %s to %s", urlType, t)
}

func (v urlValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(urlValue)
	if !ok {
		return types.MaybeNoSuchOverloadErr(other)
	}
	return types.Bool(v.u.String() == o.u.String())
}

func (v urlValue) Type() ref.Type { return urlType }
func (v urlValue) Value() any     { return v.u }

// urls is the library of URL functions.
func urls() cel.EnvOption {
	str := func(f func(*url.URL) string) cel.OverloadOpt {
		return cel.UnaryBinding(func(arg ref.Val) ref.Val {
			v, ok := arg.(urlValue)
			if !ok {
				return types.MaybeNoSuchOverloadErr(arg)
			}
			return types.String(f(v.u))
		})
	}
	return cel.Lib(lib{
		cel.Function("url", cel.Overload("string_to_url", []*cel.Type{cel.StringType}, urlType,
			cel.UnaryBinding(func(arg ref.Val) ref.Val {
				s, ok := arg.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(arg)
				}
				u, err := parseURL(string(s))
				if err != nil {
					return types.NewErr("URL parse error during conversion from string: %v", err)
				}
				return urlValue{u}
			}))),
		cel.Function("isURL", cel.Overload("is_url_string", []*cel.Type{cel.StringType}, cel.BoolType,
			cel.UnaryBinding(func(arg ref.Val) ref.Val {
				s, ok := arg.(types.String)
				if !ok {
					return types.MaybeNoSuchOverloadErr(arg)
				}
				_, err := parseURL(string(s))
				return types.Bool(err == nil)
			}))),
		cel.Function("getScheme", cel.MemberOverload("url_get_scheme", []*cel.Type{urlType}, cel.StringType, str(func(u *url.URL) string { return u.Scheme }))),
		cel.Function("getHost", cel.MemberOverload("url_get_host", []*cel.Type{urlType}, cel.StringType, str(func(u *url.URL) string { return u.Host }))),
		cel.Function("getHostname", cel.MemberOverload("url_get_hostname", []*cel.Type{urlType}, cel.StringType, str((*url.URL).Hostname))),
		cel.Function("getPort", cel.MemberOverload("url_get_port", []*cel.Type{urlType}, cel.StringType, str((*url.URL).Port))),
		cel.Function("getEscapedPath", cel.MemberOverload("url_get_escaped_path", []*cel.Type{urlType}, cel.StringType, str((*url.URL).EscapedPath))),
		cel.Function("getQuery", cel.MemberOverload("url_get_query", []*cel.Type{urlType}, cel.MapType(cel.StringType, cel.ListType(cel.StringType)),
			cel.UnaryBinding(func(arg ref.Val) ref.Val {
				v, ok := arg.(urlValue)
				if !ok {
					return types.MaybeNoSuchOverloadErr(arg)
				}
				return types.DefaultTypeAdapter.NativeToValue(map[string][]string(v.u.Query()))
			}))),
	})
}

// parseURL accepts what Kubernetes' url() accepts: what ParseRequestURI
// accepts (as the OpenAPI "uri" format does: an absolute URI or path),
// parsed again with Parse, which handles a fragment the first one would
// fold into the path.
func parseURL(s string) (*url.URL, error) {
	if _, err := url.ParseRequestURI(s); err != nil {
		return nil, err
	}
	return url.Parse(s)
}

// lib is a cel.Library of environment options.
type lib []cel.EnvOption

func (l lib) CompileOptions() []cel.EnvOption   { return l }
func (lib) ProgramOptions() []cel.ProgramOption { return nil }

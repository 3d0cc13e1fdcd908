package registry

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/signet-dev/signet/internal/ttl"
)

// Bounds of the memo of /v2/ ping answers. go-containerregistry pings a
// registry (GET /v2/) before its first request for every repository, to
// learn whether and how to authenticate; admissions of new images in new
// repositories of one registry would each pay that round trip. The answer
// — the status and the WWW-Authenticate challenge, never a credential or a
// token — depends on the registry, the scheme and who asks, not on the
// repository: signet answers repeated pings from memory.
//
// An answer is kept per registry host (exactly as requested), scheme,
// whether signet may reach that host over plain HTTP, and credentials
// identity (CredentialsID): a ping made with one set of credentials is
// never answered with what another's learned. Only a 200 or a 401 to a
// ping that was not redirected is kept, so one registry's answer (or a
// redirect to another registry) is never stored under another's name.
// A registry asking for credentials on a later request (401) has its
// answers dropped, so a registry that turns on authentication is pinged
// afresh. Tokens stay go-containerregistry's, per repository scope.
const (
	// MaxPingAnswers bounds the answers kept: hosts × credentials
	// identities. Each holds at most maxChallengeBytes of challenge.
	MaxPingAnswers = 1024
	// PingTTL is how long an answer is used.
	PingTTL = 5 * time.Minute
	// maxChallengeBytes bounds the WWW-Authenticate values of a kept
	// answer (real challenges are ~100 bytes); a larger one is not kept.
	maxChallengeBytes = 1 << 10
)

// pingAnswer is what go-containerregistry reads of a ping's answer.
type pingAnswer struct {
	status int
	// scheme is the scheme the answer came over (a plain-HTTP registry
	// answers HTTPS pings over HTTP, scheme.go).
	scheme     string
	challenges []string
}

// pingMemo answers /v2/ pings from the Client's memo, and sends (and
// keeps the answers of) those it has not seen. It sits under
// go-containerregistry's authentication, one per puller.
type pingMemo struct {
	inner http.RoundTripper
	memo  *ttl.Cache[string, pingAnswer]
	// creds is the credentials identity of the puller's requests.
	creds string
	// plain says whether a host may be reached over plain HTTP for a
	// request (limited.allowed).
	plain func(*http.Request) bool
}

func (m pingMemo) key(req *http.Request, scheme string) string {
	return m.creds + "|" + scheme + "://" + strings.ToLower(req.URL.Host) + "|" + strconv.FormatBool(m.plain(req))
}

func (m pingMemo) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Response != nil {
		return m.inner.RoundTrip(req)
	}
	if req.Method != http.MethodGet || classify(req.URL.Path) != classPing {
		resp, err := m.inner.RoundTrip(req)
		if err == nil && resp.StatusCode == http.StatusUnauthorized {
			m.memo.Remove(m.key(req, "https"))
			m.memo.Remove(m.key(req, "http"))
		}
		return resp, err
	}
	key := m.key(req, req.URL.Scheme)
	if a, ok := m.memo.Get(key); ok {
		return a.response(req), nil
	}
	resp, err := m.inner.RoundTrip(req)
	if err != nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized) {
		return resp, err
	}
	scheme := req.URL.Scheme
	if resp.Request != nil && resp.Request.URL != nil {
		scheme = resp.Request.URL.Scheme
	}
	// A copy: the header's slice is the response's.
	a := pingAnswer{status: resp.StatusCode, scheme: scheme, challenges: slices.Clone(resp.Header.Values("WWW-Authenticate"))}
	n := 0
	for _, c := range a.challenges {
		n += len(c)
	}
	if n <= maxChallengeBytes {
		m.memo.Add(key, a)
	}
	return resp, nil
}

// response is the answer as go-containerregistry's ping reads it: the
// status, the challenges, and the request whose scheme it came over.
func (a pingAnswer) response(req *http.Request) *http.Response {
	r := req
	if a.scheme != req.URL.Scheme {
		r = req.Clone(req.Context())
		r.URL.Scheme = a.scheme
	}
	h := http.Header{}
	for _, c := range a.challenges {
		h.Add("WWW-Authenticate", c)
	}
	return &http.Response{
		Status:     strconv.Itoa(a.status) + " " + http.StatusText(a.status),
		StatusCode: a.status,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        h,
		Body:          http.NoBody,
		ContentLength: 0,
		Request:       r,
	}
}

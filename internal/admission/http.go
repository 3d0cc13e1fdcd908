package admission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	admissionv1 "k8s.io/api/admission/v1"
	admissionv1beta1 "k8s.io/api/admission/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/workload"
)

// MaxBodyBytes bounds an AdmissionReview body. The largest object etcd
// stores is 1.5 MiB; an UPDATE carries it twice, plus the review envelope
// (controller-runtime's webhook server uses the same bound and reasoning).
const MaxBodyBytes = 7 << 20

// SmallBodyBytes is how much of its body every request may hold without
// drawing on the shared budget (MaxBufferedBodyBytes): AdmissionReviews
// of ordinary objects are a few KiB.
const SmallBodyBytes = 64 << 10

// MaxBufferedBodyBytes bounds the body bytes all requests together hold
// beyond their first SmallBodyBytes, from the moment a body grows past
// them until its request is reviewed (a decoded request holds about as
// much again): two reviews at MaxBodyBytes at once, or five UPDATEs of the
// largest object etcd stores. A body past SmallBodyBytes draws its whole
// declared length at once (else MaxBodyBytes) but is still read as its
// bytes arrive; a request that finds no room waits under its deadline,
// then gets 503. Requests under SmallBodyBytes, nearly all of them, never
// wait for it.
const MaxBufferedBodyBytes = 16 << 20

// Handler serves one webhook: POST an AdmissionReview, get one back.
//
// A request is bounded at each step: its body is read as it arrives, up to
// MaxBodyBytes, drawing on MaxBufferedBodyBytes beyond SmallBodyBytes; it
// is reviewed in one of Options.MaxReviews slots, waited for under its
// deadline; and every message it gets back is cut to a bounded length.
// How long a client may take to send its headers and body is the server's
// (package server).
func (r *Reviewer) Handler(mutate bool) http.Handler {
	webhook := "validate"
	if mutate {
		webhook = "mutate"
	}
	return r.handler(webhook, func(ctx context.Context, ar *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		return r.Review(ctx, ar, mutate)
	})
}

// handler serves a webhook whose answers review gives, within the bounds
// Handler describes.
func (r *Reviewer) handler(webhook string, review func(context.Context, *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		r.metrics.InFlight(1)
		defer r.metrics.InFlight(-1)
		kind := ""
		decision := "error"
		defer func() { r.metrics.Admission(webhook, decision, metricKind(kind), time.Since(start)) }()

		if req.Method != http.MethodPost {
			httpError(w, http.StatusMethodNotAllowed, "use POST with an AdmissionReview")
			return
		}
		if !isJSON(req.Header.Get("Content-Type")) {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("Content-Type must be application/json, got %q", req.Header.Get("Content-Type")))
			return
		}
		ctx, cancel := requestContext(req, r.opts.Timeout)
		defer cancel()
		body, held, err := r.readBody(ctx, w, req)
		released := false
		release := func() { // once reviewed: a client slow to read its answer holds none of it
			if !released {
				released = true
				r.bodies.Release(held)
				putBuffer(body)
			}
		}
		defer release()
		if err != nil {
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("AdmissionReview larger than %d bytes", MaxBodyBytes))
			case errors.Is(err, errBusy):
				w.Header().Set("Retry-After", "1")
				httpError(w, http.StatusServiceUnavailable, err.Error())
			default:
				httpError(w, http.StatusBadRequest, "reading body: "+err.Error())
			}
			return
		}
		apiVersion, ar, err := decodeReview(*body)
		if err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		kind = ar.Kind.Kind
		var resp *admissionv1.AdmissionResponse
		select {
		case r.reviewing <- struct{}{}:
			resp = r.safeReview(ctx, ar, review)
			<-r.reviewing
		case <-ctx.Done():
			resp = deny(fmt.Sprintf("signet was reviewing %d admissions at once, its limit, and none finished before this one's deadline; retry later", cap(r.reviewing)))
			resp.UID = ar.UID
		}
		release()
		decision = verdict(resp)
		buf := bufs.Get().(*bytes.Buffer)
		defer func() {
			if buf.Cap() <= SmallBodyBytes {
				bufs.Put(buf)
			}
		}()
		buf.Reset()
		if err := json.MarshalWrite(buf, &wireResponse{APIVersion: apiVersion, Kind: "AdmissionReview", Response: resp}); err != nil {
			// Nothing in a response can fail to encode; if it ever does,
			// the API server gets an error, never an empty allow.
			httpError(w, http.StatusInternalServerError, "encoding the AdmissionReview: "+err.Error())
			return
		}
		buf.WriteByte('\n')
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		_, _ = w.Write(buf.Bytes()) // an error means the client went away
	})
}

// errBusy is returned when a body's bytes found no room in the budget
// before the request's deadline.
var errBusy = errors.New("signet is reading or reviewing as many large AdmissionReviews as it may hold at once; retry later")

// readBody reads req's body as it arrives, up to MaxBodyBytes, into a
// pooled buffer that grows (doubling) with the bytes received: the length
// the client declares allocates nothing. A body growing past
// SmallBodyBytes draws the rest of its declared length (else of
// MaxBodyBytes) from r.bodies under ctx; held is what was drawn, to
// release once the request is reviewed.
func (r *Reviewer) readBody(ctx context.Context, w http.ResponseWriter, req *http.Request) (body *[]byte, held int64, err error) {
	body = smallBufs.Get().(*[]byte)
	if req.ContentLength > MaxBodyBytes {
		return body, 0, &http.MaxBytesError{Limit: MaxBodyBytes}
	}
	in := http.MaxBytesReader(w, req.Body, MaxBodyBytes)
	b := (*body)[:0]
	defer func() { *body = b }()
	for {
		if len(b) == cap(b) {
			// One byte more than the limit, so that reading it tells a
			// body of exactly MaxBodyBytes from a longer one.
			size := min(max(2*cap(b), 4<<10), MaxBodyBytes+1)
			if req.ContentLength >= 0 {
				size = min(size, int(req.ContentLength)+1) // no more than declared
			}
			if size <= cap(b) { // net/http ends a body at its declared length
				return body, held, errors.New("body longer than its Content-Length")
			}
			if size > SmallBodyBytes && held == 0 {
				// Past SmallBodyBytes, the whole body is drawn at once
				// (its declared length, else the limit): drawn bit by bit,
				// requests holding part of the budget would wait for each
				// other's rest.
				held = MaxBodyBytes + 1 - SmallBodyBytes
				if req.ContentLength > 0 {
					held = max(req.ContentLength+1-SmallBodyBytes, 1)
				}
				if err := r.bodies.Acquire(ctx, held); err != nil {
					held = 0
					return body, 0, errBusy
				}
				// Drawn, the declared length is allocated at once: no
				// more than the budget allows, and no copies on the way.
				if req.ContentLength > 0 {
					size = int(req.ContentLength) + 1
				}
			}
			b = append(make([]byte, 0, size), b...)
		}
		n, err := in.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		switch {
		case err == io.EOF:
			return body, held, nil
		case err != nil:
			return body, held, err
		}
	}
}

// smallBufs recycles request body buffers of up to SmallBodyBytes; larger
// ones are left to the garbage collector, so that a burst of large
// requests leaves no memory behind in the pool.
var smallBufs = sync.Pool{New: func() any { return new([]byte) }}

func putBuffer(b *[]byte) {
	if cap(*b) <= SmallBodyBytes {
		*b = (*b)[:0]
		smallBufs.Put(b)
	}
}

// metricKind is the kind label of an admission: one of the kinds signet
// reads or of its policy resources (the policy webhook), "" when the
// request could not be decoded, else "other". A
// label's values live as long as the process; a kind is whatever the
// client wrote.
func metricKind(kind string) string {
	if kind == "" || workload.Supported(kind) || kind == policy.Kind || kind == policy.KindCluster {
		return kind
	}
	return "other"
}

// isJSON reports whether a Content-Type is application/json, with or
// without parameters.
func isJSON(ct string) bool {
	if ct == "application/json" {
		return true // what the API server sends; no parsing
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// bufs recycles response buffers of up to SmallBodyBytes: a busy webhook
// writes thousands a second. Nothing decoded from a request keeps
// references into a body buffer (the JSON decoder copies).
var bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

type wireResponse struct {
	APIVersion string                         `json:"apiVersion"`
	Kind       string                         `json:"kind"`
	Response   *admissionv1.AdmissionResponse `json:"response"`
}

func verdict(resp *admissionv1.AdmissionResponse) string {
	switch {
	case !resp.Allowed:
		return "denied"
	case len(resp.Warnings) > 0:
		return "warned"
	}
	return "allowed"
}

// safeReview turns a panic into a denial that still echoes the UID.
func (r *Reviewer) safeReview(ctx context.Context, ar *admissionv1.AdmissionRequest, review func(context.Context, *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse) (resp *admissionv1.AdmissionResponse) {
	defer func() {
		if p := recover(); p != nil {
			panicked := decisionlog.Truncate(fmt.Sprint(p), decisionlog.MaxReasonBytes)
			r.log.Error("panic while reviewing", "uid", decisionlog.Truncate(string(ar.UID), decisionlog.MaxFieldBytes), "panic", panicked)
			resp = deny("signet hit an internal error and denies by default: " + panicked)
			resp.UID = ar.UID
		}
	}()
	return review(ctx, ar)
}

// requestContext bounds a request by the Reviewer's timeout, shortened to
// the API server's ?timeout= less a margin to answer in: one deadline (and
// one timer) per request.
func requestContext(req *http.Request, timeout time.Duration) (context.Context, context.CancelFunc) {
	if t, err := time.ParseDuration(queryValue(req.URL.RawQuery, "timeout")); err == nil && t > 0 {
		margin := min(t/5, time.Second)
		timeout = min(timeout, t-margin)
	}
	return context.WithTimeout(req.Context(), timeout)
}

// MaxIdentifierBytes bounds the fields of an AdmissionReview request the
// API server fills in itself — uid, kind, resource, subResource, operation
// — and no user chooses: Kubernetes identifiers are at most 253 bytes (a
// DNS subdomain). A request with a longer one is rejected before any of it
// is used. The fields a user chooses (the object's name, the username) are
// cut wherever they are quoted, logged or stored.
const MaxIdentifierBytes = 253

// wireReview is the part of an AdmissionReview signet reads. admission.k8s.io
// v1 and v1beta1 requests share this shape.
type wireReview struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Request    *wireRequest `json:"request"`
}

type wireRequest struct {
	UID         types.UID                   `json:"uid"`
	Kind        metav1.GroupVersionKind     `json:"kind"`
	Resource    metav1.GroupVersionResource `json:"resource"`
	SubResource string                      `json:"subResource"`
	Name        string                      `json:"name"`
	Namespace   string                      `json:"namespace"`
	Operation   admissionv1.Operation       `json:"operation"`
	// UserInfo leaves out groups: signet does not read them, and a list
	// of empty strings costs five times its size decoded.
	UserInfo struct {
		Username string `json:"username"`
		UID      string `json:"uid"`
	} `json:"userInfo"`
	Object    jsontext.Value `json:"object"`
	OldObject jsontext.Value `json:"oldObject"`
	DryRun    *bool          `json:"dryRun"`
}

// queryValue returns the first value of key in a raw query, without
// building url.Values for the one parameter the API server sends.
func queryValue(raw, key string) string {
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k == key {
			if u, err := url.QueryUnescape(v); err == nil {
				return u
			}
			return ""
		}
	}
	return ""
}

// decodeReview accepts admission.k8s.io/v1 and v1beta1 reviews.
//
// One pass over the body, with the JSON v2 decoder: names match
// case-sensitively (as the API server's decoder does: "Object" is not
// "object"), a name given twice is an error rather than last-wins, and
// invalid UTF-8 is rejected. The API server re-encodes every object before
// it calls a webhook, so none of these reject a real request; each would be
// a way to show signet something other than what is stored.
func decodeReview(body []byte) (string, *admissionv1.AdmissionRequest, error) {
	var env wireReview
	if err := json.Unmarshal(body, &env); err != nil {
		return "", nil, fmt.Errorf("malformed AdmissionReview: %v", err)
	}
	switch env.APIVersion {
	case admissionv1.SchemeGroupVersion.String(), admissionv1beta1.SchemeGroupVersion.String():
	default:
		return "", nil, fmt.Errorf("unsupported AdmissionReview apiVersion %q (want admission.k8s.io/v1 or v1beta1)", env.APIVersion)
	}
	if env.Kind != "AdmissionReview" {
		return "", nil, fmt.Errorf("kind must be AdmissionReview, got %q", env.Kind)
	}
	w := env.Request
	if w == nil {
		return "", nil, errors.New("AdmissionReview has no request")
	}
	if w.UID == "" {
		return "", nil, errors.New("AdmissionReview request has no uid")
	}
	for _, f := range []struct{ name, value string }{
		{"uid", string(w.UID)}, {"kind.group", w.Kind.Group}, {"kind.version", w.Kind.Version}, {"kind.kind", w.Kind.Kind},
		{"resource.group", w.Resource.Group}, {"resource.version", w.Resource.Version}, {"resource.resource", w.Resource.Resource},
		{"subResource", w.SubResource}, {"operation", string(w.Operation)},
	} {
		if len(f.value) > MaxIdentifierBytes {
			return "", nil, fmt.Errorf("AdmissionReview request.%s is %d bytes long, over %d: not a request the API server sends", f.name, len(f.value), MaxIdentifierBytes)
		}
	}
	req := &admissionv1.AdmissionRequest{
		UID: w.UID, Kind: w.Kind, Resource: w.Resource, SubResource: w.SubResource,
		Name: w.Name, Namespace: w.Namespace, Operation: w.Operation, DryRun: w.DryRun,
		Object: raw(w.Object), OldObject: raw(w.OldObject),
	}
	req.UserInfo.Username, req.UserInfo.UID = w.UserInfo.Username, w.UserInfo.UID
	return env.APIVersion, req, nil
}

// raw is what runtime.RawExtension's decoder makes of v: null is nothing.
func raw(v jsontext.Value) runtime.RawExtension {
	if len(v) == 0 || string(v) == "null" {
		return runtime.RawExtension{}
	}
	return runtime.RawExtension{Raw: v}
}

// httpError answers code with msg, cut to MaxMessageBytes: messages quote
// what the client sent.
func httpError(w http.ResponseWriter, code int, msg string) {
	http.Error(w, "signet: "+decisionlog.Truncate(msg, MaxMessageBytes), code)
}

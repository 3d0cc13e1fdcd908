package admission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
)

// MaxBodyBytes bounds an AdmissionReview body. The largest object etcd
// stores is 1.5 MiB; an UPDATE carries it twice, plus the review envelope
// (controller-runtime's webhook server uses the same bound and reasoning).
const MaxBodyBytes = 7 << 20

// Handler serves one webhook: POST an AdmissionReview, get one back.
func (r *Reviewer) Handler(mutate bool) http.Handler {
	webhook := "validate"
	if mutate {
		webhook = "mutate"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		start := time.Now()
		r.metrics.InFlight(1)
		defer r.metrics.InFlight(-1)
		kind := ""
		decision := "error"
		defer func() { r.metrics.Admission(webhook, decision, kind, time.Since(start)) }()

		if req.Method != http.MethodPost {
			httpError(w, http.StatusMethodNotAllowed, "use POST with an AdmissionReview")
			return
		}
		if !isJSON(req.Header.Get("Content-Type")) {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("Content-Type must be application/json, got %q", req.Header.Get("Content-Type")))
			return
		}
		in := bufs.Get().(*bytes.Buffer)
		defer bufs.Put(in)
		in.Reset()
		if req.ContentLength > 0 && req.ContentLength <= MaxBodyBytes {
			in.Grow(int(req.ContentLength) + bytes.MinRead)
		}
		_, err := in.ReadFrom(http.MaxBytesReader(w, req.Body, MaxBodyBytes))
		body := in.Bytes()
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("AdmissionReview larger than %d bytes", MaxBodyBytes))
				return
			}
			httpError(w, http.StatusBadRequest, "reading body: "+err.Error())
			return
		}
		apiVersion, ar, err := decodeReview(body)
		if err != nil {
			httpError(w, http.StatusBadRequest, err.Error())
			return
		}
		kind = ar.Kind.Kind
		ctx, cancel := requestContext(req, r.opts.Timeout)
		defer cancel()
		resp := r.safeReview(ctx, ar, mutate)
		decision = verdict(resp)
		buf := bufs.Get().(*bytes.Buffer)
		defer bufs.Put(buf)
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

// isJSON reports whether a Content-Type is application/json, with or
// without parameters.
func isJSON(ct string) bool {
	if ct == "application/json" {
		return true // what the API server sends; no parsing
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// bufs recycles request and response buffers: a busy webhook reads and
// writes thousands a second. Nothing decoded from a request keeps
// references into its buffer (the JSON decoder copies).
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
func (r *Reviewer) safeReview(ctx context.Context, ar *admissionv1.AdmissionRequest, mutate bool) (resp *admissionv1.AdmissionResponse) {
	defer func() {
		if p := recover(); p != nil {
			r.log.Error("panic while reviewing", "uid", string(ar.UID), "panic", fmt.Sprint(p))
			resp = deny(fmt.Sprintf("signet hit an internal error and denies by default: %v", p))
			resp.UID = ar.UID
		}
	}()
	return r.Review(ctx, ar, mutate)
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
	UserInfo    struct {
		Username string   `json:"username"`
		UID      string   `json:"uid"`
		Groups   []string `json:"groups"`
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
	req := &admissionv1.AdmissionRequest{
		UID: w.UID, Kind: w.Kind, Resource: w.Resource, SubResource: w.SubResource,
		Name: w.Name, Namespace: w.Namespace, Operation: w.Operation, DryRun: w.DryRun,
		Object: raw(w.Object), OldObject: raw(w.OldObject),
	}
	req.UserInfo.Username, req.UserInfo.UID, req.UserInfo.Groups = w.UserInfo.Username, w.UserInfo.UID, w.UserInfo.Groups
	return env.APIVersion, req, nil
}

// raw is what runtime.RawExtension's decoder makes of v: null is nothing.
func raw(v jsontext.Value) runtime.RawExtension {
	if len(v) == 0 || string(v) == "null" {
		return runtime.RawExtension{}
	}
	return runtime.RawExtension{Raw: v}
}

func httpError(w http.ResponseWriter, code int, msg string) {
	http.Error(w, "signet: "+msg, code)
}

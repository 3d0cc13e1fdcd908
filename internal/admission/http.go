package admission

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionv1beta1 "k8s.io/api/admission/v1beta1"
	kjson "sigs.k8s.io/json"
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
		if ct, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || ct != "application/json" {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("Content-Type must be application/json, got %q", req.Header.Get("Content-Type")))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBodyBytes))
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
		ctx, cancel := requestContext(req)
		defer cancel()
		resp := r.safeReview(ctx, ar, mutate)
		decision = verdict(resp)
		out := map[string]any{"apiVersion": apiVersion, "kind": "AdmissionReview", "response": resp}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(out); err != nil {
			return // the client went away
		}
	})
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

// requestContext derives the request's deadline from the API server's
// ?timeout= parameter, leaving a margin to answer in.
func requestContext(req *http.Request) (context.Context, context.CancelFunc) {
	if t, err := time.ParseDuration(req.URL.Query().Get("timeout")); err == nil && t > 0 {
		margin := min(t/5, time.Second)
		return context.WithTimeout(req.Context(), t-margin)
	}
	return context.WithCancel(req.Context())
}

// decodeReview accepts admission.k8s.io/v1 and v1beta1 reviews; their
// requests share one JSON shape.
func decodeReview(body []byte) (string, *admissionv1.AdmissionRequest, error) {
	// One pass over the body: the request is decoded in place rather than
	// kept raw and decoded again (a cached admission's cost is mostly JSON).
	var env struct {
		APIVersion string                        `json:"apiVersion"`
		Kind       string                        `json:"kind"`
		Request    *admissionv1.AdmissionRequest `json:"request"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(body, &env); err != nil {
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
	if env.Request == nil {
		return "", nil, errors.New("AdmissionReview has no request")
	}
	if env.Request.UID == "" {
		return "", nil, errors.New("AdmissionReview request has no uid")
	}
	return env.APIVersion, env.Request, nil
}

func httpError(w http.ResponseWriter, code int, msg string) {
	http.Error(w, "signet: "+msg, code)
}

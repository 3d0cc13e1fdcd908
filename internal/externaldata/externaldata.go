package externaldata

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/policy"
)

// The protocol's names.
const (
	APIVersion   = "externaldata.gatekeeper.sh/v1beta1"
	RequestKind  = "ProviderRequest"
	ResponseKind = "ProviderResponse"
)

// Bounds on a request: Gatekeeper sends the images of one object (or, in
// audit, of a batch), so a few hundred keys at most in practice.
const (
	// MaxKeys bounds the keys of one request; a request with more gets a
	// systemError and no items (Gatekeeper then denies, or its audit
	// reports, with that reason).
	MaxKeys = 1000
	// MaxBodyBytes bounds a request body: MaxKeys references of up to
	// 1 KiB each (an image reference is at most 255 bytes of name plus a
	// tag and a digest).
	MaxBodyBytes = 1 << 20
	// MaxErrorBytes bounds each item's error (a reason quotes the
	// reference and registry answers); a longer one is cut there and ends
	// with a note of how much was cut ("…(+N bytes)", under 32 bytes).
	MaxErrorBytes = decisionlog.MaxReasonBytes
	// DefaultTimeout is Handler's deadline for all the keys of one
	// request: below the chart's Provider timeout (3 s, the limit of
	// Gatekeeper's HTTP client), so signet answers with its reasons
	// (keys not decided in time are inconclusive) before Gatekeeper gives
	// up on the whole request.
	DefaultTimeout = 2500 * time.Millisecond
)

// ProviderRequest is what Gatekeeper sends (its
// frameworks/constraint/pkg/externaldata.ProviderRequest).
type ProviderRequest struct {
	APIVersion string  `json:"apiVersion,omitempty"`
	Kind       string  `json:"kind,omitempty"`
	Request    Request `json:"request,omitzero"`
}

// Request holds the keys to decide: image references.
type Request struct {
	Keys []string `json:"keys,omitempty"`
}

// ProviderResponse is what signet answers (Gatekeeper's
// externaldata.ProviderResponse).
type ProviderResponse struct {
	APIVersion string   `json:"apiVersion,omitempty"`
	Kind       string   `json:"kind,omitempty"`
	Response   Response `json:"response,omitzero"`
}

// Response holds one item per distinct key, or a systemError.
type Response struct {
	// Idempotent is always true: the same key gets the same answer while
	// the policy and the signatures are the same, so Gatekeeper may use
	// it for mutation and cache it.
	Idempotent  bool   `json:"idempotent,omitempty"`
	Items       []Item `json:"items,omitempty"`
	SystemError string `json:"systemError,omitempty"`
}

// Item is the answer for one key: Value when the image is allowed, Error
// otherwise.
type Item struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value,omitempty"`
	Error string `json:"error,omitempty"`
}

// Decider decides image references under the policy in force, within the
// process's limits (admission.Reviewer).
type Decider interface {
	Decide(ctx context.Context, namespace string, refs []string) (map[string]policy.Decision, error)
}

// Handler answers POST ProviderRequests. The zero Timeout is
// DefaultTimeout; Log may be nil.
type Handler struct {
	Decider Decider
	Timeout time.Duration
	Log     *slog.Logger
}

// ServeHTTP answers one ProviderRequest: 405 for another method, 415 for
// a body that is not JSON, 413 past MaxBodyBytes, 400 for one that does
// not decode; otherwise 200 with a ProviderResponse (a systemError for
// too many keys or no policy yet).
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reply(w, http.StatusMethodNotAllowed, systemError("use POST with a "+RequestKind))
		return
	}
	if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		reply(w, http.StatusUnsupportedMediaType, systemError(fmt.Sprintf("Content-Type must be application/json, got %q", req.Header.Get("Content-Type"))))
		return
	}
	var pr ProviderRequest
	if err := json.UnmarshalRead(http.MaxBytesReader(w, req.Body, MaxBodyBytes), &pr); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			reply(w, http.StatusRequestEntityTooLarge, systemError(fmt.Sprintf("%s larger than %d bytes", RequestKind, MaxBodyBytes)))
			return
		}
		reply(w, http.StatusBadRequest, systemError("decoding the "+RequestKind+": "+err.Error()))
		return
	}
	if pr.APIVersion != APIVersion || pr.Kind != RequestKind {
		reply(w, http.StatusBadRequest, systemError(fmt.Sprintf("want apiVersion %s, kind %s; got %q, %q", APIVersion, RequestKind, pr.APIVersion, pr.Kind)))
		return
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(req.Context(), timeout)
	defer cancel()
	reply(w, http.StatusOK, h.Answer(ctx, pr.Request.Keys))
}

// Answer decides keys: one item per distinct key, in the order first
// given.
func (h *Handler) Answer(ctx context.Context, keys []string) *ProviderResponse {
	if len(keys) > MaxKeys {
		return systemError(fmt.Sprintf("%d keys in one request; signet answers at most %d", len(keys), MaxKeys))
	}
	seen := make(map[string]bool, len(keys))
	distinct := make([]string, 0, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			distinct = append(distinct, k)
		}
	}
	decisions, err := h.Decider.Decide(ctx, "", distinct)
	if err != nil {
		return systemError(err.Error())
	}
	resp := &ProviderResponse{APIVersion: APIVersion, Kind: ResponseKind, Response: Response{Idempotent: true, Items: make([]Item, 0, len(distinct))}}
	denied := 0
	for _, k := range distinct {
		d, ok := decisions[k]
		it := Item{Key: k}
		switch {
		case !ok:
			it.Error = "not decided"
		case d.Allowed && d.Pinned != "":
			it.Value = d.Pinned
		case d.Allowed:
			// Allowed without a digest (a static rule): the reference
			// stays as given.
			it.Value = k
		default:
			it.Error = decisionlog.Truncate(fmt.Sprintf("%s: %s", d.Outcome, d.Reason), MaxErrorBytes)
		}
		if it.Error != "" {
			denied++
		}
		resp.Response.Items = append(resp.Response.Items, it)
	}
	if h.Log != nil {
		h.Log.Debug("external data answered", "keys", len(distinct), "denied", denied)
	}
	return resp
}

func systemError(msg string) *ProviderResponse {
	return &ProviderResponse{APIVersion: APIVersion, Kind: ResponseKind, Response: Response{Idempotent: true, SystemError: msg}}
}

func reply(w http.ResponseWriter, code int, resp *ProviderResponse) {
	b, err := json.Marshal(resp)
	if err != nil {
		http.Error(w, "encoding the "+ResponseKind+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

package admission

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"

	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policy/v1alpha1"
)

// MaxPolicyCauses bounds the field errors a denied policy object lists in
// its answer's causes; its message (MaxMessageBytes) says how many there
// were.
const MaxPolicyCauses = 100

// PolicyHandler serves signet's validating webhook for its own policy
// resources, ClusterImagePolicy and ImagePolicy (signet.dev/v1alpha1):
// what their CRD's schema cannot say (keys that do not parse, unknown
// validator names, CEL that does not compile, a threshold above the trust
// roots, what a namespace's ImagePolicy may not say) is refused with the
// field paths `signet policy lint` reports. It shares Handler's bounds:
// body sizes and budget, review slots, deadline, message lengths. Objects
// are compiled one at a time (a request waits for its turn under its
// deadline, then is denied with a reason): compiling a policy of the
// largest size the API server stores allocates about 120 MiB, and whoever
// may write an ImagePolicy in any namespace can send such objects at once.
func (r *Reviewer) PolicyHandler() http.Handler {
	compiling := make(chan struct{}, 1)
	return r.handler("validate-policy", func(ctx context.Context, ar *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
		select {
		case compiling <- struct{}{}:
			defer func() { <-compiling }()
			return r.ReviewPolicy(ctx, ar)
		case <-ctx.Done():
			resp := deny("signet checks policy objects one at a time, and the others did not leave it time before this one's deadline; retry")
			resp.UID = ar.UID
			return resp
		}
	})
}

// ReviewPolicy answers the admission of a policy object: a CREATE, or an
// UPDATE changing its spec, is allowed only if the object compiles on its
// own (policy.CompileUnit, offline: no network, and no Secret is read —
// k8s:// keys and auth.secretName are read when images are verified).
// Every other operation, an UPDATE leaving the spec as it was (labels,
// finalizers) and the status subresource are allowed.
func (r *Reviewer) ReviewPolicy(_ context.Context, req *admissionv1.AdmissionRequest) *admissionv1.AdmissionResponse {
	resp, reason := reviewPolicy(req)
	boundResponse(resp)
	resp.UID = req.UID
	r.log.Info("policy admission",
		"uid", decisionlog.Truncate(string(req.UID), decisionlog.MaxFieldBytes),
		"kind", req.Kind.Kind, "namespace", decisionlog.Truncate(req.Namespace, decisionlog.MaxFieldBytes),
		"name", decisionlog.Truncate(req.Name, decisionlog.MaxFieldBytes), "operation", string(req.Operation),
		"user", decisionlog.Truncate(req.UserInfo.Username, decisionlog.MaxFieldBytes),
		"allowed", resp.Allowed, "reason", decisionlog.Truncate(reason, decisionlog.MaxReasonBytes))
	return resp
}

func reviewPolicy(req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionResponse, string) {
	allow := &admissionv1.AdmissionResponse{Allowed: true}
	switch {
	case req.Operation != admissionv1.Create && req.Operation != admissionv1.Update:
		return allow, "operation " + string(req.Operation) + " is not checked"
	case req.SubResource != "":
		return allow, "subresource " + req.SubResource + " is not checked"
	case req.Kind.Group != v1alpha1.SchemeGroupVersion.Group || req.Kind.Version != v1alpha1.SchemeGroupVersion.Version ||
		(req.Kind.Kind != policy.KindCluster && req.Kind.Kind != policy.Kind):
		msg := fmt.Sprintf("signet's policy webhook reads %s and %s of %s, not %s/%s %s: the webhook configuration sends it the wrong kinds",
			policy.KindCluster, policy.Kind, v1alpha1.SchemeGroupVersion, req.Kind.Group, req.Kind.Version, req.Kind.Kind)
		return deny(msg), msg
	}
	if n := len(req.Object.Raw); n > policy.MaxDocumentBytes {
		msg := fmt.Sprintf("the %s is %d bytes, over the %d a policy may have", req.Kind.Kind, n, policy.MaxDocumentBytes)
		return deny(msg), msg
	}
	obj, err := decodePolicy(req.Kind.Kind, req.Namespace, req.Object.Raw)
	if err != nil {
		return invalid(obj.Ref, err), err.Error()
	}
	if req.Operation == admissionv1.Update {
		// What was stored stays as valid as it was: an update of its
		// labels or finalizers (a deletion finishing) is not refused.
		if old, err := decodePolicy(req.Kind.Kind, req.Namespace, req.OldObject.Raw); err == nil && reflect.DeepEqual(old.Doc.Spec, obj.Doc.Spec) {
			return allow, "spec unchanged"
		}
	}
	if _, err := policy.CompileUnit(obj, nil, policy.Offline()); err != nil {
		return invalid(obj.Ref, err), err.Error()
	}
	return allow, "compiled"
}

// decodePolicy reads a policy object as the API server sent it: case
// sensitively, as client-go does, and with the fields this signet does not
// know refused (a CRD newer than signet; the API server has pruned every
// field its schema does not have), so that nothing is stored that signet
// would silently not enforce.
func decodePolicy(kind, namespace string, raw []byte) (policy.Object, error) {
	obj := policy.Object{Ref: policy.ObjectRef{Kind: kind, Namespace: namespace}}
	if len(raw) == 0 {
		return obj, errors.New("the request has no object")
	}
	var (
		strict []error
		err    error
		meta   *metav1.ObjectMeta
	)
	if kind == policy.KindCluster {
		var o v1alpha1.ClusterImagePolicy
		strict, err = kjson.UnmarshalStrict(raw, &o)
		obj.Doc, meta = o.Document(), &o.ObjectMeta
	} else {
		var o v1alpha1.ImagePolicy
		strict, err = kjson.UnmarshalStrict(raw, &o)
		obj.Doc, meta = o.Document(), &o.ObjectMeta
	}
	if err != nil {
		return obj, fmt.Errorf("decoding the %s: %w", kind, err)
	}
	obj.Ref.Name, obj.Ref.Generation = meta.Name, meta.Generation
	var p []policy.FieldError
	for _, e := range strict {
		// "unknown field \"spec.rules[0].foo\"", "duplicate field …":
		// the spec's are refused; metadata and status are the API's.
		msg, field := e.Error(), ""
		if i := strings.Index(msg, `"spec.`); i >= 0 {
			field, _, _ = strings.Cut(msg[i+1:], `"`)
		}
		if field != "" {
			p = append(p, policy.FieldError{Field: field, Msg: "not a field this signet knows (" + strings.TrimPrefix(msg, "json: ") + "): a CRD newer than signet?"})
		}
	}
	if len(p) > 0 {
		return obj, &policy.InvalidError{Errs: p}
	}
	return obj, nil
}

// invalid denies a policy object that does not compile: the message lists
// every problem by its field path (policy.InvalidError, cut to
// MaxMessageBytes), and so do the causes (at most MaxPolicyCauses).
func invalid(ref policy.ObjectRef, err error) *admissionv1.AdmissionResponse {
	name := ref.Kind
	if ref.Name != "" {
		name = ref.String()
	}
	st := &metav1.Status{Status: metav1.StatusFailure, Code: 422, Reason: metav1.StatusReasonInvalid,
		Details: &metav1.StatusDetails{Name: ref.Name, Kind: ref.Kind, Group: v1alpha1.SchemeGroupVersion.Group}}
	ie, ok := errors.AsType[*policy.InvalidError](err)
	if !ok {
		st.Message = fmt.Sprintf("%s: %v", name, err)
		return &admissionv1.AdmissionResponse{Allowed: false, Result: st}
	}
	c := *ie
	c.Source = name
	if len(c.Errs) > 1 {
		c.Source = fmt.Sprintf("%s (%d problems)", name, len(c.Errs))
	}
	st.Message = c.Error()
	for i, fe := range c.Errs {
		if i == MaxPolicyCauses {
			break
		}
		st.Details.Causes = append(st.Details.Causes, metav1.StatusCause{Type: metav1.CauseTypeFieldValueInvalid,
			Field: fe.Field, Message: decisionlog.Truncate(fe.Msg, decisionlog.MaxReasonBytes)})
	}
	return &admissionv1.AdmissionResponse{Allowed: false, Result: st}
}

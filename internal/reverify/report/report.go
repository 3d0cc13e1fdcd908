package report

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/signet-dev/signet/internal/reverify"
)

// Resource is the PolicyReport resource the Writer writes.
var Resource = schema.GroupVersionResource{Group: "wgpolicyk8s.io", Version: "v1alpha2", Resource: "policyreports"}

// What every report and result of signet says.
const (
	// NamePrefix starts the name of each report: signet-<workload UID>.
	NamePrefix = "signet-"
	// Policy and Source name signet in each result.
	Policy = "signet"
	Source = "signet"
	// Category of each result.
	Category = "Image Verification"
	// NoRule is a result's rule when no rule decided.
	NoRule = "no rule"

	// LabelManagedBy marks signet's reports; LabelKind, LabelName and
	// LabelUID name the workload (values made label-safe).
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelKind      = "signet.dev/workload-kind"
	LabelName      = "signet.dev/workload-name"
	LabelUID       = "signet.dev/workload-uid"
	managedBy      = "signet"
)

// RecheckInterval is how long a Writer that found no PolicyReport CRD
// waits before looking again.
const RecheckInterval = time.Minute

// Options configure a Writer.
type Options struct {
	// Log receives one warning when the CRD is absent and a notice when it
	// appears. Default: discard.
	Log *slog.Logger
	// Now is the clock of the CRD re-check. Default: time.Now.
	Now func() time.Time
}

// Writer implements reverify.Reporter with PolicyReports written through a
// dynamic client. Its methods may be called from several goroutines, but
// one call runs at a time.
type Writer struct {
	client dynamic.Interface
	log    *slog.Logger
	now    func() time.Time

	mu sync.Mutex
	// written holds, per workload UID, what the stored report is known to
	// contain.
	written map[string]state
	// absent: the CRD was found missing; nothing is written before
	// recheck.
	absent  bool
	recheck time.Time
	// listed: the stored reports were listed into written (once after New
	// or Reset: a term's first round then costs a few list pages, not one
	// read per workload).
	listed bool
	// complete: that list succeeded, so a workload it did not find has no
	// report (unless one was made since).
	complete bool
}

// state is what the Writer knows of one stored report: the hash of its
// content and the resourceVersion to update it with.
type state struct {
	hash            [sha256.Size]byte
	resourceVersion string
	// listed: known from prefill's list, not written by this Writer; a
	// report that differs is read and merged, not overwritten.
	listed bool
}

var _ reverify.Reporter = (*Writer)(nil)

// New returns a Writer writing through client.
func New(client dynamic.Interface, opts Options) *Writer {
	w := &Writer{client: client, log: opts.Log, now: opts.Now, written: map[string]state{}}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.now == nil {
		w.now = time.Now
	}
	return w
}

// Reset forgets what the Writer knows of stored reports, so that the next
// Report of each workload compares with the stored one again. A Writer
// assumes that it alone writes signet's reports; call Reset when another
// may have written meanwhile, such as when this replica becomes the
// re-verifier's leader again.
func (w *Writer) Reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.written)
	w.listed = false
}

// Name is the name of the report about the workload with this UID.
func Name(uid string) string { return NamePrefix + uid }

// Report writes the report of wl when it differs from the stored one.
// Without the PolicyReport CRD it does nothing and returns nil.
func (w *Writer) Report(ctx context.Context, wl reverify.Workload, results []reverify.Result) error {
	if wl.Namespace == "" || wl.UID == "" || wl.Name == "" {
		return fmt.Errorf("reporting on %s %q: a workload needs a namespace, a name and a UID", wl.Kind, wl.Name)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.skip() {
		return nil
	}
	w.prefill(ctx)
	if w.skip() {
		return nil
	}
	want := build(wl, results)
	hash := want.hash()
	st, known := w.written[wl.UID]
	if known && st.hash == hash {
		return nil
	}
	// Forgotten until written: an error leaves the next call to Get.
	delete(w.written, wl.UID)
	reports := w.client.Resource(Resource).Namespace(wl.Namespace)
	if known && !st.listed {
		got, err := reports.Update(ctx, want.object(st.resourceVersion), metav1.UpdateOptions{FieldManager: managedBy})
		switch {
		case err == nil:
			w.written[wl.UID] = state{hash: hash, resourceVersion: got.GetResourceVersion()}
			return nil
		case w.crdAbsent(err):
			return nil
		case !apierrors.IsConflict(err) && !apierrors.IsNotFound(err):
			return fmt.Errorf("updating PolicyReport %s/%s: %w", wl.Namespace, want.Name, err)
		}
		// Changed or deleted by someone else: start again from what is
		// stored.
	}
	if !known && w.complete {
		// The list found no report for this workload: create it without
		// reading first (half the requests of a term's first round); one
		// made since by another replica is read and merged below.
		got, err := reports.Create(ctx, want.object(""), metav1.CreateOptions{FieldManager: managedBy})
		switch {
		case err == nil:
			w.written[wl.UID] = state{hash: hash, resourceVersion: got.GetResourceVersion()}
			return nil
		case w.crdAbsent(err):
			return nil
		case !apierrors.IsAlreadyExists(err):
			return fmt.Errorf("creating PolicyReport %s/%s: %w", wl.Namespace, want.Name, err)
		}
	}
	stored, err := reports.Get(ctx, want.Name, metav1.GetOptions{})
	var got *unstructured.Unstructured
	switch {
	case w.crdAbsent(err):
		return nil
	case apierrors.IsNotFound(err):
		got, err = reports.Create(ctx, want.object(""), metav1.CreateOptions{FieldManager: managedBy})
		if w.crdAbsent(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("creating PolicyReport %s/%s: %w", wl.Namespace, want.Name, err)
		}
	case err != nil:
		return fmt.Errorf("reading PolicyReport %s/%s: %w", wl.Namespace, want.Name, err)
	default:
		if have, err := fromObject(stored); err == nil && have.hash() == hash {
			w.written[wl.UID] = state{hash: hash, resourceVersion: stored.GetResourceVersion()}
			return nil
		}
		got, err = reports.Update(ctx, want.merge(stored), metav1.UpdateOptions{FieldManager: managedBy})
		if w.crdAbsent(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("updating PolicyReport %s/%s: %w", wl.Namespace, want.Name, err)
		}
	}
	w.written[wl.UID] = state{hash: hash, resourceVersion: got.GetResourceVersion()}
	return nil
}

// Forget deletes the report of wl (already gone is fine) and what the
// Writer remembers of it.
func (w *Writer) Forget(ctx context.Context, wl reverify.Workload) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.written, wl.UID)
	if wl.Namespace == "" || wl.UID == "" || w.skip() {
		return nil
	}
	err := w.client.Resource(Resource).Namespace(wl.Namespace).Delete(ctx, Name(wl.UID), metav1.DeleteOptions{})
	if w.crdAbsent(err) || err == nil || apierrors.IsNotFound(err) {
		return nil
	}
	return fmt.Errorf("deleting PolicyReport %s/%s: %w", wl.Namespace, Name(wl.UID), err)
}

// skip says whether the CRD is known to be absent and not due for another
// look.
func (w *Writer) skip() bool {
	return w.absent && w.now().Before(w.recheck)
}

// crdAbsent reports whether err says the API server has no PolicyReport
// resource, and if so records it (warning once) until the next re-check.
// After an absence, a nil err or an object's NotFound records that the CRD
// is back.
func (w *Writer) crdAbsent(err error) bool {
	if !isNoResource(err) {
		if w.absent && (err == nil || apierrors.IsNotFound(err)) {
			w.absent = false
			w.log.Info("PolicyReport CRD found: writing reports", "resource", Resource.String())
		}
		return false
	}
	if !w.absent {
		w.log.Warn("no PolicyReport CRD: re-verification results are not written as PolicyReports; install policyreports.wgpolicyk8s.io (the Helm chart's reverify.policyReports.installCRD)",
			"resource", Resource.String(), "recheck", RecheckInterval.String(), "error", err)
	}
	w.absent = true
	w.recheck = w.now().Add(RecheckInterval)
	// Reports written before the CRD went are gone with it.
	clear(w.written)
	w.listed = false
	return true
}

// listPage is the page size of prefill's list.
const listPage = 500

// prefill lists signet's stored reports into written, once after New or
// Reset. A report it missed (written by another replica since) is read
// when it is reported on, as without it; a failed list leaves every report
// to that.
func (w *Writer) prefill(ctx context.Context) {
	if w.listed {
		return
	}
	opts := metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + managedBy, Limit: listPage}
	found := map[string]state{}
	for {
		page, err := w.client.Resource(Resource).Namespace(metav1.NamespaceAll).List(ctx, opts)
		if w.crdAbsent(err) {
			return
		}
		if err != nil {
			w.log.Warn("listing PolicyReports: each is read when reported on", "error", err.Error())
			w.listed, w.complete = true, false
			return
		}
		for i := range page.Items {
			u := &page.Items[i]
			uid, ok := strings.CutPrefix(u.GetName(), NamePrefix)
			if !ok {
				continue
			}
			if have, err := fromObject(u); err == nil {
				found[uid] = state{have.hash(), u.GetResourceVersion(), true}
			}
		}
		if opts.Continue = page.GetContinue(); opts.Continue == "" {
			break
		}
	}
	for uid, st := range found {
		if _, ok := w.written[uid]; !ok {
			w.written[uid] = st
		}
	}
	w.listed, w.complete = true, true
}

// isNoResource: a 404 about the resource rather than an object of it (an
// object's NotFound names the object), or a REST mapper's "no matches for
// kind".
func isNoResource(err error) bool {
	if err == nil {
		return false
	}
	if meta.IsNoMatchError(err) {
		return true
	}
	var status apierrors.APIStatus
	if !apierrors.IsNotFound(err) || !errors.As(err, &status) {
		return false
	}
	d := status.Status().Details
	return d == nil || d.Name == ""
}

// policyReport is the part of a PolicyReport the Writer sets; its JSON is
// what the hash covers.
type policyReport struct {
	Name            string                  `json:"-"`
	Labels          map[string]string       `json:"labels"`
	OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
	Scope           objectReference         `json:"scope"`
	Summary         summary                 `json:"summary"`
	Results         []result                `json:"results,omitempty"`
}

// objectReference is corev1.ObjectReference's fields that reports use.
type objectReference struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name,omitempty"`
	UID        string `json:"uid,omitempty"`
}

type summary struct {
	Pass  int64 `json:"pass"`
	Fail  int64 `json:"fail"`
	Warn  int64 `json:"warn"`
	Error int64 `json:"error"`
	Skip  int64 `json:"skip"`
}

type result struct {
	Policy     string            `json:"policy"`
	Rule       string            `json:"rule,omitempty"`
	Result     string            `json:"result,omitempty"`
	Message    string            `json:"message,omitempty"`
	Source     string            `json:"source,omitempty"`
	Category   string            `json:"category,omitempty"`
	Severity   string            `json:"severity,omitempty"`
	Timestamp  timestamp         `json:"timestamp"`
	Resources  []objectReference `json:"resources,omitempty"`
	Properties map[string]string `json:"properties,omitempty"`
}

type timestamp struct {
	Seconds int64 `json:"seconds"`
	Nanos   int32 `json:"nanos"`
}

// build is the report of wl with results.
func build(wl reverify.Workload, results []reverify.Result) *policyReport {
	scope := objectReference{APIVersion: wl.APIVersion, Kind: wl.Kind, Namespace: wl.Namespace, Name: wl.Name, UID: wl.UID}
	r := &policyReport{
		Name: Name(wl.UID),
		Labels: map[string]string{
			LabelManagedBy: managedBy,
			LabelKind:      labelValue(wl.Kind),
			LabelName:      labelValue(wl.Name),
			LabelUID:       labelValue(wl.UID),
		},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: wl.APIVersion, Kind: wl.Kind, Name: wl.Name, UID: types.UID(wl.UID)}},
		Scope:           scope,
	}
	for _, res := range results {
		outcome := res.Outcome
		switch outcome {
		case reverify.Pass:
			r.Summary.Pass++
		case reverify.Fail:
			r.Summary.Fail++
		case reverify.Warn:
			r.Summary.Warn++
		default:
			outcome = reverify.Error
			r.Summary.Error++
		}
		rule := res.Rule
		if rule == "" {
			rule = NoRule
		}
		x := result{
			Policy: Policy, Rule: rule, Result: string(outcome), Message: truncate(res.Reason, reverify.MaxReasonBytes),
			Source: Source, Category: Category, Severity: severity(outcome), Resources: []objectReference{scope},
		}
		if !res.Time.IsZero() {
			x.Timestamp = timestamp{Seconds: res.Time.Unix(), Nanos: int32(res.Time.Nanosecond())}
		}
		for k, v := range map[string]string{"container": res.Container, "image": res.Image, "digest": res.Digest, "validator": res.Validator, "mode": res.Mode} {
			if v == "" {
				continue
			}
			if x.Properties == nil {
				x.Properties = map[string]string{}
			}
			x.Properties[k] = truncate(v, reverify.MaxReasonBytes)
		}
		r.Results = append(r.Results, x)
	}
	return r
}

// severity is a result's: the API allows critical, high, medium, low and
// info.
func severity(o reverify.Outcome) string {
	switch o {
	case reverify.Fail:
		return "high"
	case reverify.Warn:
		return "medium"
	default:
		return "info"
	}
}

// hash is the SHA-256 of r's JSON (maps marshal sorted).
func (r *policyReport) hash() [sha256.Size]byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("report: marshalling a PolicyReport: %v", err)) // only strings and numbers
	}
	return sha256.Sum256(b)
}

// object is r as the API object to create (resourceVersion "") or update.
func (r *policyReport) object(resourceVersion string) *unstructured.Unstructured {
	b, err := json.Marshal(r)
	if err != nil {
		panic(fmt.Sprintf("report: marshalling a PolicyReport: %v", err))
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		panic(fmt.Sprintf("report: unmarshalling a PolicyReport: %v", err))
	}
	md := map[string]any{"name": r.Name, "namespace": r.Scope.Namespace, "labels": body["labels"], "ownerReferences": body["ownerReferences"]}
	if resourceVersion != "" {
		md["resourceVersion"] = resourceVersion
	}
	delete(body, "labels")
	delete(body, "ownerReferences")
	body["apiVersion"] = Resource.GroupVersion().String()
	body["kind"] = "PolicyReport"
	body["metadata"] = md
	return &unstructured.Unstructured{Object: body}
}

// merge is r as an update of stored: stored's other labels, annotations
// and fields stay.
func (r *policyReport) merge(stored *unstructured.Unstructured) *unstructured.Unstructured {
	o := r.object(stored.GetResourceVersion())
	labels := stored.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	for k, v := range r.Labels {
		labels[k] = v
	}
	out := stored.DeepCopy()
	for k, v := range o.Object {
		if k != "metadata" {
			out.Object[k] = v
		}
	}
	if r.Results == nil {
		delete(out.Object, "results")
	}
	out.SetLabels(labels)
	out.SetOwnerReferences(mergeOwners(stored.GetOwnerReferences(), r.OwnerReferences[0]))
	return out
}

// mergeOwners keeps others' owner references and sets the workload's.
func mergeOwners(refs []metav1.OwnerReference, owner metav1.OwnerReference) []metav1.OwnerReference {
	out := []metav1.OwnerReference{owner}
	for _, ref := range refs {
		if ref.UID != owner.UID {
			out = append(out, ref)
		}
	}
	return out
}

// fromObject reads back what build sets from a stored report: its labels
// are only those build sets, its owner references only the first (merge
// puts the workload's first).
func fromObject(u *unstructured.Unstructured) (*policyReport, error) {
	var body struct {
		Scope   objectReference `json:"scope"`
		Summary summary         `json:"summary"`
		Results []result        `json:"results"`
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &body); err != nil {
		return nil, err
	}
	r := &policyReport{Name: u.GetName(), Scope: body.Scope, Summary: body.Summary, Results: body.Results, Labels: map[string]string{}}
	stored := u.GetLabels()
	for _, k := range []string{LabelManagedBy, LabelKind, LabelName, LabelUID} {
		if v, ok := stored[k]; ok {
			r.Labels[k] = v
		}
	}
	if refs := u.GetOwnerReferences(); len(refs) > 0 {
		r.OwnerReferences = refs[:1]
	}
	return r, nil
}

// labelValue makes s a valid label value: at most 63 characters of
// [A-Za-z0-9._-], starting and ending with a letter or digit.
func labelValue(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	s = string(b[:min(len(b), 63)])
	return strings.TrimFunc(s, func(r rune) bool { return r == '.' || r == '_' || r == '-' })
}

// truncate cuts s to at most n bytes, at a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

package admission

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
	"golang.org/x/sync/semaphore"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/workload"
)

// DefaultTimeout bounds the verification of one request. It stays below
// the 10 s webhook timeout the Helm chart sets, so signet answers with its
// own reason before the API server gives up.
const DefaultTimeout = 8 * time.Second

// Owners fetches the controlling owner of an object through the API.
type Owners interface {
	Get(ctx context.Context, namespace string, owner workload.OwnerReference) (*workload.Object, error)
}

// Keychains builds the registry credentials of a workload: its pull
// secrets and its service account's (kube.Keychains).
type Keychains interface {
	Workload(ctx context.Context, namespace, serviceAccount string, pullSecrets []string) (*registry.Keychain, error)
}

// Options tune a Reviewer. The zero value is the strictest: no shortcuts.
type Options struct {
	// ChildApproval names, in the decision log, the controlling owner
	// (fetched through the API, not being deleted) of an admitted object
	// that carries exactly the owner's digest-pinned images. It decides
	// nothing: every image is evaluated under the policy in force, which
	// answers a digest verified recently under the same rule from its
	// cache. Needs Owners.
	ChildApproval bool
	// UnchangedApproval admits an UPDATE that does not change any image.
	UnchangedApproval bool
	// ExcludedNamespaces are admitted without verification. The webhook
	// configuration should exclude them too; this is defence in depth.
	ExcludedNamespaces []string
	// Timeout bounds one request's verifications. Default DefaultTimeout.
	Timeout time.Duration
	// Decisions receives one record per admission (the decision log).
	// Default: none.
	Decisions decisionlog.Sink
	// Required, when set, is asked (an atomic load, never the disk) before
	// each answer: while its Err is not nil (the audit log cannot be
	// written, with --audit-required), a request signet would allow or
	// warn about is denied with that reason. Skipped requests (excluded
	// namespaces, unchecked operations and kinds) pass as before.
	Required interface{ Err() error }
	// Keychains, when set, gives each request the registry credentials of
	// its workload (pull secrets, service account), tried before the
	// registry client's own. Default: the client's own only.
	Keychains Keychains
	// Untrusted, when set, says whether a workload object (by UID) had an
	// image fail re-verification (package reverify): such an owner is not
	// named as vouching for its children, whose images are verified on
	// their own like every image.
	Untrusted func(uid string) bool
	// Parallelism bounds the images of one request decided at once (a
	// worker pool). Default DefaultParallelism.
	Parallelism int
	// MaxVerifications bounds the images decided at once by the whole
	// process, all requests together. An image waits for a slot under its
	// request's deadline; when the deadline passes first, it is decided
	// without the network (static rules, cached results) or inconclusive.
	// Default DefaultMaxVerifications.
	MaxVerifications int
	// MaxReviews bounds the admission requests reviewed at once by the
	// handlers; a request beyond it waits for a slot under its deadline,
	// then is denied with a reason. Default DefaultMaxReviews.
	MaxReviews int
}

// DefaultParallelism is Options.Parallelism's default: a Pod's handful of
// distinct images are decided side by side; a request at workload.MaxImages
// holds at most this many goroutines.
const DefaultParallelism = 8

// DefaultMaxVerifications is Options.MaxVerifications's default. Each image
// being verified may hold a manifest (4 MiB at most) and signatures (1 MiB
// each) in memory; registry.Client allows 32 requests in flight per
// registry host.
const DefaultMaxVerifications = 64

// DefaultMaxReviews is Options.MaxReviews's default: four times the
// clients `make bench` saturates signet with, so a burst of admissions
// queues briefly rather than failing.
const DefaultMaxReviews = 256

// Reviewer answers admission requests.
type Reviewer struct {
	engine  func() *policy.Engine
	owners  Owners
	opts    Options
	log     *slog.Logger
	metrics *metrics.Metrics
	// verifying holds a token per image being decided (MaxVerifications);
	// extras, one per image decided by a request's second and later
	// workers (three quarters of MaxVerifications), so that a few requests
	// of many images leave slots to every other request's first image.
	verifying, extras chan struct{}
	// reviewing holds a token per request being reviewed by a handler
	// (MaxReviews).
	reviewing chan struct{}
	// bodies is the budget of request body bytes held beyond the first
	// SmallBodyBytes of each (MaxBufferedBodyBytes).
	bodies *semaphore.Weighted
}

// NewReviewer returns a Reviewer. engine returns the policy in force at the
// time of each request (an atomic load). owners, log and m may be nil.
func NewReviewer(engine func() *policy.Engine, owners Owners, opts Options, log *slog.Logger, m *metrics.Metrics) *Reviewer {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Decisions == nil {
		opts.Decisions = decisionlog.Discard
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = DefaultParallelism
	}
	if opts.MaxVerifications <= 0 {
		opts.MaxVerifications = DefaultMaxVerifications
	}
	if opts.MaxReviews <= 0 {
		opts.MaxReviews = DefaultMaxReviews
	}
	return &Reviewer{engine: engine, owners: owners, opts: opts, log: log, metrics: m,
		verifying: make(chan struct{}, opts.MaxVerifications),
		extras:    make(chan struct{}, max(opts.MaxVerifications*3/4, 1)),
		reviewing: make(chan struct{}, opts.MaxReviews),
		bodies:    semaphore.NewWeighted(MaxBufferedBodyBytes)}
}

// EngineFunc returns the function the Reviewer loads its engine with.
func (r *Reviewer) EngineFunc() func() *policy.Engine { return r.engine }

// ImageResult is the decision on one image of the object, as logged.
type ImageResult = decisionlog.Image

// outcome summarises a request for logs and metrics.
type outcome struct {
	decision     string // allowed, denied, warned, skipped
	reason       string
	images       []ImageResult
	generateName string
}

// Review answers one request. With mutate, allowed images are pinned to the
// digest that was verified.
func (r *Reviewer) Review(ctx context.Context, req *admissionv1.AdmissionRequest, mutate bool) *admissionv1.AdmissionResponse {
	start := time.Now()
	eng := r.engine()
	resp, out := r.review(ctx, eng, req, mutate)
	if r.opts.Required != nil && resp.Allowed && out.decision != "skipped" {
		if err := r.opts.Required.Err(); err != nil {
			reason := "the audit log cannot be written and is required: " + err.Error()
			resp, out = deny("signet denied the request: "+reason), outcome{decision: "denied", reason: reason, images: out.images, generateName: out.generateName}
		}
	}
	boundResponse(resp)
	resp.UID = req.UID
	r.logDecision(req, eng, mutate, out, time.Since(start))
	return resp
}

func (r *Reviewer) review(ctx context.Context, eng *policy.Engine, req *admissionv1.AdmissionRequest, mutate bool) (*admissionv1.AdmissionResponse, outcome) {
	allow := &admissionv1.AdmissionResponse{Allowed: true}
	kind := req.Kind.Kind
	switch {
	case req.Operation != admissionv1.Create && req.Operation != admissionv1.Update:
		return allow, outcome{decision: "skipped", reason: "operation " + string(req.Operation) + " is not checked"}
	case slices.Contains(r.opts.ExcludedNamespaces, req.Namespace) && req.Namespace != "":
		return allow, outcome{decision: "skipped", reason: "namespace " + req.Namespace + " is excluded"}
	case req.SubResource != "" && !(kind == "Pod" && req.SubResource == "ephemeralcontainers"):
		return allow, outcome{decision: "skipped", reason: "subresource " + req.SubResource + " is not checked"}
	}
	if eng == nil {
		// No policy yet (the policy resources are still being read):
		// never allow for want of one.
		return deny("signet denied the request: " + NoPolicy), outcome{decision: "denied", reason: NoPolicy}
	}
	res, ok := checked(eng, req.Kind)
	if !ok {
		return allow, outcome{decision: "skipped", reason: "kind " + req.Kind.Group + "/" + req.Kind.Version + " " + kind + " is neither built in nor declared in the policy's resources"}
	}
	obj, err := decode(ctx, kind, res, req.Object.Raw)
	if err != nil {
		return deny(fmt.Sprintf("signet could not read the %s: %v", kind, err)), outcome{decision: "denied", reason: err.Error()}
	}
	gn := obj.Metadata.GenerateName
	// unchanged holds, for an UPDATE, the image fields the update leaves as
	// they were. They are verified like any other but never rewritten:
	// pinning them would change a running container's image (and restart
	// it) on an update that did not ask for that, and the API server
	// rejects changes outside ephemeralContainers on that subresource.
	//
	// An UPDATE of an object being deleted (finalizers still to run) that
	// changes no image passes, so that finalizers can finish whatever the
	// policy says now; one that changes an image is checked like any other.
	var unchanged map[string]bool
	if req.Operation == admissionv1.Update {
		unchanged = map[string]bool{}
		if old, err := decode(ctx, kind, res, req.OldObject.Raw); err == nil {
			same := sameImages(old.Images, obj.Images, false)
			if same && obj.Metadata.DeletionTimestamp != nil {
				return allow, outcome{generateName: gn, decision: "skipped", reason: "object is being deleted and this update changes no image"}
			}
			if r.opts.UnchangedApproval && same {
				return allow, outcome{generateName: gn, decision: "skipped", reason: "images unchanged by this update"}
			}
			for _, o := range old.Images {
				for _, n := range obj.Images {
					if n.Path == o.Path && n.Ref == o.Ref {
						unchanged[n.Path] = true
					}
				}
			}
		}
	}
	if len(obj.Images) == 0 {
		return allow, outcome{generateName: gn, decision: "allowed", reason: "no images"}
	}

	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > r.opts.Timeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.opts.Timeout)
		defer cancel()
	}
	if r.opts.Keychains != nil {
		kc, err := r.opts.Keychains.Workload(ctx, req.Namespace, obj.ServiceAccount, obj.PullSecrets)
		if err != nil {
			// Every registry request of this admission fails with the
			// reason (inconclusive); images static rules decide are
			// decided as usual, and modes apply.
			kc = registry.UnreadableKeychain(fmt.Errorf("%w; check that signet may get secrets and serviceaccounts in namespace %s", err, req.Namespace))
		}
		ctx = registry.ContextWithKeychain(ctx, kc)
	}
	decisions := r.evaluate(ctx, eng, req.Namespace, obj.Images)

	var (
		patch    []patchOp
		denials  []string
		warnings []string
		// firstDenied is the image the denial's hint names.
		firstDenied string
		out         = outcome{generateName: gn}
	)
	for _, img := range obj.Images {
		d := decisions[img.Ref]
		out.images = append(out.images, ImageResult{
			Path: img.Path, Image: img.Ref, Digest: d.Digest, Pinned: d.Pinned, Allowed: d.Allowed,
			Outcome: string(d.Outcome), Mode: d.Mode, Rule: d.Rule, Validator: d.Validator, Reason: d.Reason,
		})
		if d.Allowed {
			if mutate && pinning(cmp.Or(d.Pinning, eng.Pinning()), kind) && d.Mutate && d.Digest != "" && !unchanged[img.Path] {
				// An image that already names the verified digest
				// (repo:tag@sha256:…, as signet check --pin writes it)
				// is left as written: the digest is what the node pulls,
				// and the live object stays equal to what GitOps applied.
				ref, err := imageref.Parse(img.Ref)
				if err == nil && ref.Digest != d.Digest {
					if v := ref.PinnedAsWritten(d.Digest); v != img.Ref {
						patch = append(patch, patchOp{Op: "replace", Path: img.Path, Value: v})
					}
				}
			}
			continue
		}
		msg := fmt.Sprintf("%s[%s] %s: %s", img.Section, img.Container, img.Ref, d.Reason)
		switch d.Mode {
		case policy.ModeWarn:
			warnings = append(warnings, "signet would deny "+msg)
		case policy.ModeAudit:
		default:
			if len(denials) == 0 {
				firstDenied = img.Ref
			}
			denials = append(denials, msg)
		}
	}
	if len(denials) > 0 {
		out.decision, out.reason = "denied", strings.Join(denials, "; ")
		return deny(withHint(fmt.Sprintf("signet denied %d image(s): %s", len(denials), strings.Join(denials, "; ")), firstDenied)), out
	}
	out.decision = "allowed"
	if len(warnings) > 0 {
		out.decision, out.reason = "warned", strings.Join(warnings, "; ")
	} else {
		out.reason = r.childOf(ctx, req.Namespace, obj)
	}
	resp := &admissionv1.AdmissionResponse{Allowed: true, Warnings: warnings}
	if len(patch) > 0 {
		b, err := json.Marshal(patch)
		if err != nil {
			return deny("signet could not encode its patch: " + err.Error()), outcome{generateName: gn, decision: "denied", reason: err.Error()}
		}
		pt := admissionv1.PatchTypeJSONPatch
		resp.Patch, resp.PatchType = b, &pt
	}
	return resp, out
}

// evaluate decides every distinct image once, under ctx, at most
// Options.Parallelism at a time (a request with one distinct image, most
// of them, is decided on the caller's goroutine), each holding one of the
// process's Options.MaxVerifications slots.
func (r *Reviewer) evaluate(ctx context.Context, eng *policy.Engine, namespace string, imgs []workload.Image) map[string]policy.Decision {
	seen := make(map[string]bool, len(imgs))
	distinct := make([]string, 0, len(imgs))
	for _, img := range imgs {
		if !seen[img.Ref] {
			seen[img.Ref] = true
			distinct = append(distinct, img.Ref)
		}
	}
	if len(distinct) == 1 {
		return map[string]policy.Decision{distinct[0]: r.decide(ctx, eng, namespace, distinct[0], false)}
	}
	decisions := make([]policy.Decision, len(distinct))
	var next atomic.Int64
	work := func(extra bool) {
		for i := int(next.Add(1)) - 1; i < len(distinct); i = int(next.Add(1)) - 1 {
			decisions[i] = r.decide(ctx, eng, namespace, distinct[i], extra)
		}
	}
	var wg sync.WaitGroup
	for range min(r.opts.Parallelism, len(distinct)) - 1 {
		wg.Go(func() { work(true) })
	}
	work(false)
	wg.Wait()
	out := make(map[string]policy.Decision, len(distinct))
	for i, ref := range distinct {
		out[ref] = decisions[i]
	}
	return out
}

// decide evaluates one image in one of the process's verification slots;
// a request's second and later workers (extra) also hold one of the extra
// workers' slots. When ctx's deadline passes before a slot is free, the
// engine is asked anyway, with the deadline passed: what needs no registry
// (a static rule, no matching rule, a cached result) is decided as usual,
// the rest is inconclusive, under the matching rule's mode.
func (r *Reviewer) decide(ctx context.Context, eng *policy.Engine, namespace, ref string, extra bool) policy.Decision {
	slot := true
	if extra {
		if slot = take(ctx, r.extras); slot {
			defer func() { <-r.extras }()
		}
	}
	if slot = slot && take(ctx, r.verifying); slot {
		defer func() { <-r.verifying }()
	}
	d := evaluate(ctx, eng, namespace, ref)
	if !slot && d.Outcome == verify.Inconclusive {
		d.Reason += fmt.Sprintf(" (signet was deciding %d images at once, its limit, until this admission's deadline)", cap(r.verifying))
	}
	r.metrics.Verification(d.Validator, string(d.Outcome))
	for _, a := range d.Attestations {
		r.metrics.Attestation(a.Name, string(a.Outcome))
	}
	return d
}

// evaluate decides ref for a workload of namespace: by the cluster's
// policy resources and the namespace's (EvaluateFor; cluster-scoped
// objects have namespace ""), or by a policy file alone exactly as
// before (Evaluate).
func evaluate(ctx context.Context, eng *policy.Engine, namespace, ref string) policy.Decision {
	if eng.Units() == nil {
		return eng.Evaluate(ctx, ref)
	}
	return eng.EvaluateFor(ctx, namespace, ref)
}

// NoPolicy is the reason of every admission denied before a policy is in
// force.
const NoPolicy = "no policy is in force yet (signet is still reading its ClusterImagePolicies and ImagePolicies from the API server); try again shortly"

// take puts a token in sem, waiting until ctx is done; false if it could
// not.
func take(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// pinning says whether objects of kind get pinned under the policy's
// pinning mode.
func pinning(mode, kind string) bool {
	switch mode {
	case policy.PinNone:
		return false
	case policy.PinPodsOnly:
		return kind == "Pod"
	}
	return true
}

// childOf says, for the decision log, that obj was admitted as a child of
// its controlling owner when the owner (fetched through the API, UID
// checked, not being deleted) carries exactly obj's digest-pinned images;
// otherwise "". It runs after every image was decided and changes no
// decision: an owner's admission is no proof under the policy in force
// now.
func (r *Reviewer) childOf(ctx context.Context, namespace string, obj *workload.Object) string {
	owner := obj.Metadata.Controller()
	if !r.opts.ChildApproval || r.owners == nil || owner == nil || !sameImages(obj.Images, obj.Images, true) {
		return ""
	}
	if r.opts.Untrusted != nil && r.opts.Untrusted(owner.UID) {
		return ""
	}
	o, err := r.owners.Get(ctx, namespace, *owner)
	if err != nil || o.Metadata.DeletionTimestamp != nil || !sameImages(o.Images, obj.Images, true) {
		return ""
	}
	return fmt.Sprintf("child of %s %s, which has the same digest-pinned images; each verified under the policy in force", owner.Kind, owner.Name)
}

// sameImages reports whether child has exactly the images of parent,
// container by container. With pinned, every image must also carry a
// digest: only digests are proof that the child runs what was verified.
//
// A name given twice (which the API server's validation would refuse, but
// a mutating webhook sees objects before validation) makes the lists
// differ: one of the two images would otherwise go uncompared.
func sameImages(parent, child []workload.Image, pinned bool) bool {
	if len(parent) != len(child) {
		return false
	}
	want := make(map[string]string, len(parent))
	for _, p := range parent {
		if _, dup := want[p.Key()]; dup {
			return false
		}
		want[p.Key()] = p.Ref
	}
	seen := make(map[string]bool, len(child))
	for _, c := range child {
		ref, ok := want[c.Key()]
		if !ok || ref != c.Ref || seen[c.Key()] {
			return false
		}
		seen[c.Key()] = true
		if pinned {
			r, err := imageref.Parse(c.Ref)
			if err != nil || r.Digest == "" || r.Tag != "" {
				return false
			}
		}
	}
	return true
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}

func deny(msg string) *admissionv1.AdmissionResponse {
	return &admissionv1.AdmissionResponse{Allowed: false, Result: &metav1.Status{
		Status: metav1.StatusFailure, Code: 403, Reason: metav1.StatusReasonForbidden, Message: msg,
	}}
}

func (r *Reviewer) logDecision(req *admissionv1.AdmissionRequest, eng *policy.Engine, mutate bool, out outcome, latency time.Duration) {
	webhook := "validate"
	if mutate {
		webhook = "mutate"
	}
	rec := &decisionlog.Record{
		UID: string(req.UID), Webhook: webhook, Kind: req.Kind.Kind, Namespace: req.Namespace,
		Name: objectName(req, out), Operation: string(req.Operation), User: req.UserInfo.Username,
		DryRun: req.DryRun != nil && *req.DryRun, Decision: out.decision, Reason: out.reason,
		Images: out.images, LatencyMs: float64(latency.Microseconds()) / 1000,
	}
	if eng != nil {
		rec.PolicyGeneration, rec.PolicyHash = eng.Generation(), eng.Hash()
	}
	rec.Bound()
	r.opts.Decisions.Write(rec)
}

// objectName names the object for the log: a Pod a controller creates has
// only a generateName until the API server picks one.
func objectName(req *admissionv1.AdmissionRequest, out outcome) string {
	switch {
	case req.Name != "":
		return req.Name
	case out.generateName != "":
		return out.generateName + "*"
	}
	return ""
}

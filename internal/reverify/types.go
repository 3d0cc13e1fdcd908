package reverify

import (
	"context"
	"time"
)

// Outcome is the result of one image's re-verification, spelt as
// PolicyReport results are.
type Outcome string

// Outcomes.
const (
	// Pass: the image is allowed under the policy in force.
	Pass Outcome = "pass"
	// Fail: the image is denied (a definitive failure, enforced).
	Fail Outcome = "fail"
	// Warn: the image is denied, but its rule's mode is warn or audit.
	Warn Outcome = "warn"
	// Error: the verification was inconclusive (network, timeout).
	Error Outcome = "error"
)

// Outcomes lists every Outcome, in the order metrics and summaries use.
var Outcomes = []Outcome{Pass, Fail, Warn, Error}

// Workload identifies the object a report is about: a Pod without a
// controller, or the top of a Pod's chain of controlling owners that the
// re-verifier watches (a Deployment, a CronJob, …).
type Workload struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	UID        string
}

// Result is the re-verification of one image of a workload.
type Result struct {
	// Container is where the image is: "containers/web",
	// "initContainers/setup", "volumes/models" (workload.Image.Key).
	Container string
	// Image is the reference as written in the object.
	Image string
	// Digest is the digest that was verified ("" when unknown).
	Digest  string
	Outcome Outcome
	// Rule is the pattern of the rule that decided; Validator, the
	// validator it named; Mode, enforce, warn or audit.
	Rule      string
	Validator string
	Mode      string
	// Reason explains the outcome (bounded: MaxReasonBytes).
	Reason string
	// Time is when this outcome was first seen for this image of this
	// workload: stable across rounds with the same outcome, so a report
	// that did not change is not written again.
	Time time.Time
}

// MaxReasonBytes bounds Result.Reason.
const MaxReasonBytes = 1024

// Reporter publishes the results of workloads. Report is called after
// every round for every workload with its results, sorted by Container
// then Image; an implementation writes only what changed. Forget is
// called once a workload is gone. Both are called from one goroutine.
type Reporter interface {
	Report(ctx context.Context, w Workload, results []Result) error
	Forget(ctx context.Context, w Workload) error
}

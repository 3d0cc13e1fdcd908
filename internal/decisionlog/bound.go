package decisionlog

import (
	"strconv"
	"unicode/utf8"
)

// Every string of a record comes from an AdmissionReview or is derived
// from one, and any client that reaches the webhook (any user who can
// submit a Pod, dry-run included) chooses them, up to the 7 MiB a review
// may hold. A record is bounded by these limits (and its images by
// workload.MaxImages), so a line of the log is too.
const (
	// MaxFieldBytes bounds each identifying field: uid, kind, namespace,
	// name, operation, user, and each image's path, image, digest, pinned
	// reference, rule and validator. Kubernetes names are at most 253
	// bytes and image references signet accepts 512.
	MaxFieldBytes = 512
	// MaxReasonBytes bounds the record's reason and each image's.
	MaxReasonBytes = 4 << 10
)

// Truncate returns s if it is at most max bytes long, else its first max
// bytes (cut at a UTF-8 boundary) followed by "…(+N bytes)".
func Truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…(+" + strconv.Itoa(len(s)-cut) + " bytes)"
}

// Bound truncates every string of r to its limit.
func (r *Record) Bound() {
	for _, f := range []*string{&r.UID, &r.Webhook, &r.Kind, &r.Namespace, &r.Name, &r.Operation, &r.User, &r.Decision} {
		*f = Truncate(*f, MaxFieldBytes)
	}
	r.Reason = Truncate(r.Reason, MaxReasonBytes)
	for i := range r.Images {
		img := &r.Images[i]
		for _, f := range []*string{&img.Path, &img.Image, &img.Digest, &img.Pinned, &img.Outcome, &img.Mode, &img.Rule, &img.Validator} {
			*f = Truncate(*f, MaxFieldBytes)
		}
		img.Reason = Truncate(img.Reason, MaxReasonBytes)
	}
}

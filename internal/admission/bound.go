package admission

import (
	"fmt"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/signet-dev/signet/internal/decisionlog"
)

// What signet sends back to the API server is bounded: a denial's message
// and its warnings quote image references, container names and reasons,
// all of which the request chose. The API server returns them to the
// client and may write them to its audit log.
const (
	// MaxMessageBytes bounds a denial's message (the denial of each image
	// is in the decision log in full, each reason up to
	// decisionlog.MaxReasonBytes).
	MaxMessageBytes = 16 << 10
	// MaxWarnings bounds the warnings of one answer; the last one says how
	// many more there were.
	MaxWarnings = 20
	// MaxWarningBytes bounds each warning.
	MaxWarningBytes = decisionlog.MaxReasonBytes
)

// boundResponse cuts resp's message and warnings to their limits.
func boundResponse(resp *admissionv1.AdmissionResponse) {
	if resp.Result != nil {
		resp.Result.Message = decisionlog.Truncate(resp.Result.Message, MaxMessageBytes)
	}
	if n := len(resp.Warnings); n > MaxWarnings {
		resp.Warnings = append(resp.Warnings[:MaxWarnings-1:MaxWarnings-1],
			fmt.Sprintf("signet: %d more warnings; the decision log has every image", n-MaxWarnings+1))
	}
	for i, w := range resp.Warnings {
		resp.Warnings[i] = decisionlog.Truncate(w, MaxWarningBytes)
	}
}

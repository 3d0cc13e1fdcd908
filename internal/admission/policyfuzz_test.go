package admission_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/policy"
)

// FuzzPolicyHandler: whatever the body, the policy webhook answers (400,
// 413 or a review for the request's UID) without panicking.
func FuzzPolicyHandler(f *testing.F) {
	h := admission.NewReviewer(func() *policy.Engine { return nil }, nil, admission.Options{}, nil, nil).PolicyHandler()
	valid := `{"validators":[{"name":"d","type":"static","approve":true}],"rules":[{"pattern":"ghcr.io/**","validator":"d"}]}`
	for _, b := range [][]byte{
		policyReview("CREATE", "ClusterImagePolicy", "", valid, ""),
		policyReview("CREATE", "ImagePolicy", "team-a", valid, ""),
		policyReview("UPDATE", "ImagePolicy", "team-a", `{"rules":[{"pattern":"**","validator":"nope"}]}`, valid),
		policyReview("CREATE", "ClusterImagePolicy", "", `{"validators":[{"name":"c","type":"cosign","trustRoots":[{"name":"k","key":"x"}]}],"rules":[{"pattern":"**","validator":"c","with":{"attestations":[{"name":"a","type":"vuln","conditions":[{"expression":"predicate.x =="}]}]}}]}`, ""),
		policyReview("DELETE", "ImagePolicy", "team-a", "", valid),
		[]byte(`{`),
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/validate-policy", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			var a policyAnswer
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
				t.Fatalf("HTTP 200 with an answer that does not parse: %v", err)
			}
		case 400, 413:
		default:
			t.Fatalf("HTTP %d", rec.Code)
		}
	})
}

package admission_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/testutil"
)

// policyReview is an AdmissionReview of a policy object as the API server
// sends it (JSON; the object's spec given as JSON too).
func policyReview(op, kind, namespace, spec, oldSpec string) []byte {
	obj := func(spec string) string {
		meta := `{"name":"p","generation":1}`
		if namespace != "" {
			meta = fmt.Sprintf(`{"name":"p","namespace":%q,"generation":1}`, namespace)
		}
		return fmt.Sprintf(`{"apiVersion":"signet.dev/v1alpha1","kind":%q,"metadata":%s,"spec":%s,"status":{"rules":1}}`, kind, meta, spec)
	}
	object, old := "null", "null"
	if spec != "" {
		object = obj(spec)
	}
	if oldSpec != "" {
		old = obj(oldSpec)
	}
	return fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",
"kind":{"group":"signet.dev","version":"v1alpha1","kind":%q},"resource":{"group":"signet.dev","version":"v1alpha1","resource":"x"},
"name":"p","namespace":%q,"operation":%q,"object":%s,"oldObject":%s}}`, kind, namespace, op, object, old)
}

type policyAnswer struct {
	Response struct {
		UID     string `json:"uid"`
		Allowed bool   `json:"allowed"`
		Status  *struct {
			Code    int    `json:"code"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
			Details struct {
				Causes []struct {
					Field   string `json:"field"`
					Message string `json:"message"`
				} `json:"causes"`
			} `json:"details"`
		} `json:"status"`
	} `json:"response"`
}

func TestPolicyWebhook(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	pem, _ := json.Marshal(string(key.PEM))
	validator := func(key string) string {
		return `{"name":"acme","type":"cosign","trustRoots":[{"name":"release","key":` + key + `}]}`
	}
	spec := func(validators, rules string) string {
		return `{"validators":[` + validators + `],"rules":[` + rules + `]}`
	}
	valid := spec(validator(string(pem)), `{"pattern":"ghcr.io/acme/**","validator":"acme"}`)
	badPEM, _ := json.Marshal("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
	h := newEnv(t, admission.Options{}).reviewer.PolicyHandler()
	tests := []struct {
		name                    string
		op, kind, ns, spec, old string
		allowed                 bool
		fields                  []string // the causes' field paths, in order
		has                     string
	}{
		{name: "valid cluster policy", op: "CREATE", kind: "ClusterImagePolicy", spec: valid, allowed: true},
		{name: "valid namespace policy", op: "CREATE", kind: "ImagePolicy", ns: "team-a",
			spec: spec(validator(`"k8s://team-a/cosign/key"`), `{"pattern":"ghcr.io/acme/teams/team-a/**","validator":"acme"}`), allowed: true},
		{name: "k8s key of a cluster policy is not read", op: "CREATE", kind: "ClusterImagePolicy",
			spec: spec(validator(`"k8s://nowhere/missing"`), `{"pattern":"ghcr.io/acme/**","validator":"acme"}`), allowed: true},
		{name: "auth secret is not read", op: "CREATE", kind: "ClusterImagePolicy",
			spec: spec(`{"name":"acme","type":"cosign","auth":{"secretName":"missing"},"trustRoots":[{"name":"release","key":`+string(pem)+`}]}`, `{"pattern":"ghcr.io/acme/**","validator":"acme"}`), allowed: true},
		{name: "key that does not parse", op: "CREATE", kind: "ClusterImagePolicy",
			spec:   spec(validator(string(badPEM)), `{"pattern":"ghcr.io/acme/**","validator":"acme"}`),
			fields: []string{"spec.validators[0].trustRoots[0].key"}},
		{name: "unknown validator", op: "CREATE", kind: "ClusterImagePolicy",
			spec:   spec(validator(string(pem)), `{"pattern":"ghcr.io/acme/**","validator":"acme-prod"}`),
			fields: []string{"spec.rules[0].validator"}, has: `unknown validator "acme-prod"`},
		{name: "CEL that does not compile", op: "CREATE", kind: "ClusterImagePolicy",
			spec:   spec(validator(string(pem)), `{"pattern":"ghcr.io/acme/**","validator":"acme","with":{"attestations":[{"name":"prov","type":"slsaprovenance1","conditions":[{"expression":"predicate.("}]}]}}`),
			fields: []string{"spec.rules[0].with.attestations[0].conditions[0].expression"}},
		{name: "threshold above the trust roots", op: "CREATE", kind: "ClusterImagePolicy",
			spec:   spec(validator(string(pem)), `{"pattern":"ghcr.io/acme/**","validator":"acme","with":{"threshold":2}}`),
			fields: []string{"spec.rules[0].with.threshold"}},
		{name: "key of another namespace", op: "CREATE", kind: "ImagePolicy", ns: "team-a",
			spec:   spec(validator(`"k8s://team-b/cosign/key"`), `{"pattern":"ghcr.io/acme/**","validator":"acme"}`),
			fields: []string{"spec.validators[0].trustRoots[0].key"}, has: `may only name Secrets in its own namespace`},
		{name: "every problem at once", op: "CREATE", kind: "ClusterImagePolicy",
			spec:   spec(validator(string(badPEM)), `{"pattern":"ghcr.io/acme/**","validator":"acme-prod"}`),
			fields: []string{"spec.validators[0].trustRoots[0].key", "spec.rules[0].validator"}, has: "(2 problems)"},
		{name: "a field this signet does not know", op: "CREATE", kind: "ClusterImagePolicy",
			spec:   strings.Replace(valid, `"rules":`, `"future":true,"rules":`, 1),
			fields: []string{"spec.future"}},
		{name: "update to an invalid spec", op: "UPDATE", kind: "ClusterImagePolicy", old: valid,
			spec:   spec(validator(string(pem)), `{"pattern":"ghcr.io/acme/**","validator":"acme-prod"}`),
			fields: []string{"spec.rules[0].validator"}},
		{name: "update leaving an invalid spec as it was", op: "UPDATE", kind: "ClusterImagePolicy",
			old:  spec(validator(string(badPEM)), `{"pattern":"ghcr.io/acme/**","validator":"acme"}`),
			spec: spec(validator(string(badPEM)), `{"pattern":"ghcr.io/acme/**","validator":"acme"}`), allowed: true},
		{name: "delete", op: "DELETE", kind: "ClusterImagePolicy", old: valid, allowed: true},
		{name: "another kind", op: "CREATE", kind: "Pod", spec: valid, has: "not signet.dev/v1alpha1 Pod"},
		{name: "no object", op: "CREATE", kind: "ClusterImagePolicy", has: "no object"},
		{name: "larger than a policy file", op: "CREATE", kind: "ClusterImagePolicy",
			spec: strings.Replace(valid, `"rules":`, `"x":"`+strings.Repeat("a", policy.MaxDocumentBytes)+`","rules":`, 1), has: "over the 4194304 a policy may have"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, body := post(t, h, "application/json", policyReview(tc.op, tc.kind, tc.ns, tc.spec, tc.old))
			var a policyAnswer
			if err := json.Unmarshal(body, &a); code != 200 || err != nil {
				t.Fatalf("HTTP %d %s (%v)", code, body, err)
			}
			r := a.Response
			if r.UID != "u1" || r.Allowed != tc.allowed {
				t.Fatalf("uid %q allowed %v, want %v: %s", r.UID, r.Allowed, tc.allowed, body)
			}
			if tc.allowed {
				return
			}
			var fields []string
			for _, c := range r.Status.Details.Causes {
				fields = append(fields, c.Field)
			}
			if fmt.Sprint(fields) != fmt.Sprint(tc.fields) {
				t.Errorf("causes at %v, want %v: %s", fields, tc.fields, r.Status.Message)
			}
			for _, f := range tc.fields {
				if !strings.Contains(r.Status.Message, f+": ") {
					t.Errorf("message %q does not name %s", r.Status.Message, f)
				}
			}
			if !strings.Contains(r.Status.Message, tc.has) {
				t.Errorf("message %q does not say %q", r.Status.Message, tc.has)
			}
		})
	}
}

// TestPolicyWebhookConditions: an ImagePolicy as large as the API server
// stores (1.4 MiB) made of CEL conditions — each compiled and held while
// a policy is in force — is refused before any is compiled: what
// answering it allocates is measured.
//
// Not parallel: the allocation measured is this test's alone.
func TestPolicyWebhookConditions(t *testing.T) {
	h := newEnv(t, admission.Options{}).reviewer.PolicyHandler()
	pem, _ := json.Marshal(string(testutil.NewKey(t).PEM))
	var conds []string
	for i := 0; len(conds)*40 < 1400<<10; i++ {
		conds = append(conds, fmt.Sprintf(`{"expression":"predicate.x == %d"}`, i))
	}
	spec := `{"validators":[{"name":"acme","type":"cosign","trustRoots":[{"name":"release","key":` + string(pem) + `}]}],` +
		`"rules":[{"pattern":"ghcr.io/**","validator":"acme","with":{"attestations":[{"name":"p","type":"slsaprovenance1","conditions":[` + strings.Join(conds, ",") + `]}]}}]}`
	body := policyReview("CREATE", "ImagePolicy", "team-a", spec, "")
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	code, out := post(t, h, "application/json", body)
	runtime.ReadMemStats(&m1)
	var a policyAnswer
	if err := json.Unmarshal(out, &a); code != 200 || err != nil || a.Response.Allowed {
		t.Fatalf("HTTP %d %.300s (%v)", code, out, err)
	}
	if msg := a.Response.Status.Message; !strings.Contains(msg, fmt.Sprintf("spec.rules: %d CEL conditions", len(conds))) {
		t.Errorf("message %q", msg)
	}
	alloc := (m1.TotalAlloc - m0.TotalAlloc) >> 20
	t.Logf("a %d KiB ImagePolicy of %d conditions: %d MiB allocated to refuse it", len(body)>>10, len(conds), alloc)
	if alloc > 64 {
		t.Errorf("%d MiB allocated, want at most 64 (compiling them all allocates over 1 GiB)", alloc)
	}
}

// TestPolicyWebhookBounded: a policy with thousands of problems gets a
// bounded answer that still says how many there were.
func TestPolicyWebhookBounded(t *testing.T) {
	t.Parallel()
	h := newEnv(t, admission.Options{}).reviewer.PolicyHandler()
	var rules []string
	for i := range 5000 {
		rules = append(rules, fmt.Sprintf(`{"pattern":"ghcr.io/acme/%d","validator":"%s"}`, i, strings.Repeat("v", 60)))
	}
	spec := `{"validators":[{"name":"allow","type":"static","approve":true}],"rules":[` + strings.Join(rules, ",") + `]}`
	code, body := post(t, h, "application/json", policyReview("CREATE", "ClusterImagePolicy", "", spec, ""))
	var a policyAnswer
	if err := json.Unmarshal(body, &a); code != 200 || err != nil {
		t.Fatalf("HTTP %d (%v)", code, err)
	}
	st := a.Response.Status
	if a.Response.Allowed || st == nil || st.Code != 422 || st.Reason != "Invalid" {
		t.Fatalf("answer %+v", a.Response)
	}
	if len(st.Message) > admission.MaxMessageBytes+32 || !strings.Contains(st.Message, "(5000 problems)") {
		t.Errorf("message of %d bytes: %.200s", len(st.Message), st.Message)
	}
	if n := len(st.Details.Causes); n != admission.MaxPolicyCauses {
		t.Errorf("%d causes, want %d", n, admission.MaxPolicyCauses)
	}
	if len(body) > 64<<10 {
		t.Errorf("answer of %d bytes", len(body))
	}
}

// TestPolicyWebhookOneAtATime: policy objects of the largest size the API
// server stores, sent at once, are compiled one at a time: the heap
// sampled while they are answered stays near what one takes.
//
// Not parallel: the heap measured is this test's alone.
func TestPolicyWebhookOneAtATime(t *testing.T) {
	h := newEnv(t, admission.Options{Timeout: 28 * time.Second}).reviewer.PolicyHandler()
	pem, _ := json.Marshal(string(testutil.NewKey(t).PEM))
	var rules []string
	for i := 0; len(rules)*70 < 1400<<10; i++ {
		rules = append(rules, fmt.Sprintf(`{"pattern":"ghcr.io/a/%d","validator":"acme","with":{"threshold":1}}`, i))
	}
	spec := `{"validators":[{"name":"acme","type":"cosign","trustRoots":[{"name":"release","key":` + string(pem) + `}]}],"rules":[` + strings.Join(rules, ",") + `]}`
	// A ClusterImagePolicy: an ImagePolicy this large is refused by its
	// size before it is compiled (policy.MaxNamespacedRules).
	body := policyReview("CREATE", "ClusterImagePolicy", "", spec, "")
	const n = 6
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	base, peak := m.HeapAlloc, m.HeapAlloc
	done := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
				runtime.ReadMemStats(&m)
				peak = max(peak, m.HeapAlloc)
			}
		}
	}()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			// The webhook's longest deadline: six compiles one after
			// another on a busy machine need more than post's 10 s.
			req := httptest.NewRequest(http.MethodPost, "/validate-policy?timeout=30s", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if code, out := rec.Code, rec.Body.Bytes(); code != 200 || !strings.Contains(string(out), `"allowed":true`) {
				t.Errorf("HTTP %d %.300s", code, out)
			}
		})
	}
	wg.Wait()
	close(done)
	<-sampled
	extra := (peak - base) >> 20
	t.Logf("%d ClusterImagePolicies of %d KiB (%d rules) at once: heap peaked %d MiB above the start", n, len(body)>>10, len(rules), extra)
	if extra > 160 {
		t.Errorf("heap peaked %d MiB above the start, want at most 160", extra)
	}
}

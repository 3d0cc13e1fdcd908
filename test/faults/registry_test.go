package faults_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/test/harness"
	"github.com/signet-dev/signet/test/hostile"
)

// TestRegistryDownMidVerification: the registry resolves the tag, then
// dies or stops answering when signet fetches the signatures. The
// admission is denied as inconclusive within its deadline, naming the
// image and its registry; and that denial is not remembered: once the
// registry is back, the next admission of the same image is allowed and
// pinned.
func TestRegistryDownMidVerification(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second // signet serve --timeout
	const slack = 2 * time.Second   // scheduling on a loaded machine
	key := testutil.NewKey(t)
	tests := []struct {
		name  string
		fault hostile.Fault
		says  []string // in the denial, one of
	}{
		{name: "registry dies", fault: hostile.Fault{Kill: true}, says: []string{"registry unreachable"}},
		// The admission's deadline ends the registry request and the
		// cache's wait for it at the same moment: the reason is the
		// registry client's or the cache's, whichever is first.
		{name: "registry stops answering", fault: hostile.Fault{StallHeaders: true},
			says: []string{"registry did not answer before the deadline", "did not finish in time"}},
		{name: "registry answers 503", fault: hostile.Fault{Status: 503}, says: []string{"registry error (HTTP 503)"}},
	}
	// A registry per case, each listed in the policy (by Policy, under
	// insecureRegistries: they speak plain HTTP).
	regs := make([]*hostile.Registry, len(tests))
	rules := ""
	for i := range regs {
		regs[i] = hostile.New(t)
		rules += `- {pattern: "` + regs[i].Host + `/**", validator: signed}` + "\n"
	}
	s := harness.StartServe(t, testutil.Policy(key.PEM, rules),
		"--timeout", timeout.String(), "--reload-interval", "100ms")
	c := s.Client(s.CertPEM, 4)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { // one at a time: each measures its own latency
			reg := regs[i]
			signed, _ := pushImages(t, reg, key)
			// The tag resolves (HEAD /manifests/v1); the signature
			// manifest (GET /manifests/sha256-….sig) meets the fault.
			reg.On("GET", ".sig", tc.fault)

			uid := "down-" + string(rune('a'+i))
			start := time.Now()
			a, err := s.Admit(context.Background(), c, "mutate", uid, signed.ref, 0)
			took := time.Since(start)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			if a.Response == nil || a.Response.Allowed {
				t.Fatalf("want a denial, got HTTP %d %s", a.Status, a.Body)
			}
			msg := a.Message()
			t.Logf("denied in %s: %s", took.Round(time.Millisecond), msg)
			if took > timeout+slack {
				t.Errorf("answered after %s, want within --timeout %s (+%s slack)", took, timeout, slack)
			}
			for _, want := range []string{signed.digest.Context().String(), reg.Host, "not a verdict on the image"} {
				if !strings.Contains(msg, want) {
					t.Errorf("denial does not say %q: %s", want, msg)
				}
			}
			if !slices.ContainsFunc(tc.says, func(s string) bool { return strings.Contains(msg, s) }) {
				t.Errorf("denial says none of %q: %s", tc.says, msg)
			}
			if !hasSig(reg.Requests()) {
				t.Errorf("the signature fetch never reached the registry: %v", reg.Requests())
			}

			// The registry comes back: the same image is verified again,
			// not answered from a remembered denial.
			reg.Clear()
			reg.Revive(t)
			a, err = s.Admit(context.Background(), c, "mutate", uid+"-again", signed.ref, 0)
			if err != nil {
				t.Fatalf("no answer once the registry is back: %v", err)
			}
			if bad := judge("mutate", uid+"-again", signed, a); bad != "" {
				t.Errorf("once the registry is back: %s", bad)
			}
			if !hasSig(reg.Requests()) {
				t.Errorf("verified without fetching the signatures again: %v", reg.Requests())
			}
		})
	}
}

func hasSig(reqs []string) bool {
	for _, r := range reqs {
		if strings.HasPrefix(r, "GET ") && strings.HasSuffix(r, ".sig") {
			return true
		}
	}
	return false
}

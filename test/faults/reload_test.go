package faults_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/test/harness"
	"github.com/signet-dev/signet/test/hostile"
)

// checkLoad fails the test for every wrong answer and every request
// without one.
func checkLoad(t *testing.T, results []result) {
	t.Helper()
	bad := 0
	for _, r := range results {
		why := ""
		if r.err != nil {
			why = "no answer: " + r.err.Error()
		} else {
			why = judge(r.webhook, r.uid, r.img, r.answer)
		}
		if why != "" {
			if bad++; bad <= 10 {
				t.Errorf("%s %s (%s): %s", r.webhook, r.uid, r.img.ref, why)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d requests answered wrongly or not at all", bad, len(results))
	}
}

// TestPolicyGarbageUnderLoad: while clients admit a signed and an
// unsigned image without pause, the policy file is replaced with garbage.
// The old policy keeps deciding (signed allowed, unsigned denied, every
// request answered), the rejection is logged once and counted in
// signet_policy_reloads_total{result="error"}; then a valid policy is
// picked up, still without a wrong answer.
func TestPolicyGarbageUnderLoad(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	reg := hostile.New(t)
	signed, unsigned := pushImages(t, reg, key)
	other := image{ref: reg.Ref("other/app:v1"), digest: reg.Push(t, "other/app:v1")}
	// No cache: every admission is evaluated by the policy in force.
	s := harness.StartServe(t, keyPolicy(key, reg.Host), "--reload-interval", "100ms",
		"--cache-ttl=-1s", "--cache-failed-ttl=-1s")
	c := s.Client(s.CertPEM, 8)
	l := startLoad(s, c, 8, 100_000, false, signed, unsigned)
	defer l.stop()
	l.waitAnswered(t, 50, 30*time.Second)

	for i, garbage := range []string{"validators: [oops", "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nrules: [{pattern: '**', validator: nope}]\n", ""} {
		harness.ReplaceFile(t, s.PolicyFile, []byte(garbage))
		want := strconv.Itoa(i + 1)
		eventually(t, "rejection counted", 10*time.Second, func() bool {
			return metric(t, s, `signet_policy_reloads_total{result="error"}`) == want
		})
		l.waitAnswered(t, 50, 30*time.Second) // under the garbage
	}
	if n := s.Log.Count("policy rejected; the previous policy stays in force"); n != 3 {
		t.Errorf("rejections logged %d times, want once per bad file (3)", n)
	}
	if v := metric(t, s, `signet_policy_reloads_total{result="success"}`); v != "" && v != "0" {
		t.Errorf("a bad policy counted as a successful reload: %s", v)
	}

	// A valid policy: the same rule, plus one for other/**.
	harness.ReplaceFile(t, s.PolicyFile, []byte(testutil.Policy(key.PEM,
		`- {pattern: "`+reg.Host+`/other/**", validator: allow}`+"\n"+`- {pattern: "`+reg.Host+`/**", validator: signed}`+"\n")))
	eventually(t, "the valid policy", 10*time.Second, func() bool {
		return metric(t, s, `signet_policy_reloads_total{result="success"}`) == "1"
	})
	a, err := s.Admit(context.Background(), c, "validate", "other", other.ref, 0)
	if err != nil || a.Response == nil || !a.Response.Allowed {
		t.Errorf("the new policy's rule does not apply: %v %+v", err, a)
	}
	l.waitAnswered(t, 50, 30*time.Second)
	results := l.stop()
	checkLoad(t, results)
	t.Logf("%d admissions under load, 3 bad policies, 1 good one", len(results))
}

// TestTLSFilesRotatedAndRemoved: the serving key pair is rotated, then
// deleted, then replaced, while clients open a new TLS connection per
// admission. Serving never stops: a rotated pair is served to new
// connections, deleted files keep the last good pair in use with one
// clear log line, and a pair written afterwards is picked up.
func TestTLSFilesRotatedAndRemoved(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	reg := hostile.New(t)
	signed, unsigned := pushImages(t, reg, key)
	const interval = 100 * time.Millisecond
	s := harness.StartServe(t, keyPolicy(key, reg.Host), "--reload-interval", interval.String())

	certB, keyB := servingCert(t)
	certC, keyC := servingCert(t)
	// The load trusts all three certificates and handshakes on every
	// request; which one is served is checked with single-certificate
	// clients.
	trustAll := s.Client(append(append(append([]byte{}, s.CertPEM...), certB...), certC...), 0)
	l := startLoad(s, trustAll, 4, 100_000, false, signed, unsigned)
	defer l.stop()
	l.waitAnswered(t, 20, 30*time.Second)
	serves := func(certPEM []byte) func() bool {
		return func() bool {
			resp, err := s.Client(certPEM, 0).Get("https://" + s.Addr + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return true
		}
	}

	// Rotation.
	harness.ReplaceFile(t, s.CertFile, certB)
	harness.ReplaceFile(t, s.KeyFile, keyB)
	eventually(t, "the rotated certificate", 10*time.Second, serves(certB))
	l.waitAnswered(t, 20, 30*time.Second)

	// Deletion: the last good pair stays in use.
	for _, f := range []string{s.CertFile, s.KeyFile} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	const logLine = "TLS certificate not reloaded; the previous one stays in use"
	eventually(t, "the log line", 10*time.Second, func() bool { return s.Log.Count(logLine) > 0 })
	l.waitAnswered(t, 20, 30*time.Second)
	time.Sleep(5 * interval) // more polls of the missing files
	if !serves(certB)() {
		t.Error("the last good certificate is no longer served after its files were deleted")
	}
	if n := s.Log.Count(logLine); n != 1 {
		t.Errorf("%q logged %d times, want once", logLine, n)
	}
	for line := range strings.Lines(s.Log.String()) {
		if strings.Contains(line, logLine) && (!strings.Contains(line, s.CertFile) || !strings.Contains(line, "no such file")) {
			t.Errorf("the log line does not name the missing file: %s", line)
		}
	}

	// New files.
	harness.ReplaceFile(t, s.KeyFile, keyC)
	harness.ReplaceFile(t, s.CertFile, certC)
	eventually(t, "the new certificate", 10*time.Second, serves(certC))
	l.waitAnswered(t, 20, 30*time.Second)
	if serves(certB)() {
		t.Error("the deleted pair is still served after a new one was written")
	}
	if n := s.Log.Count("TLS certificate reloaded"); n != 2 {
		t.Errorf("reloads logged %d times, want 2", n)
	}
	results := l.stop()
	checkLoad(t, results)
	t.Logf("%d admissions, each on a new TLS connection", len(results))
}

func servingCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	certPEM, keyPEM, err := fixture.ServingCert("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

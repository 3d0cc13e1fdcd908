package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/signet-dev/signet/internal/alert"
	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/server"
)

// TestAlerts: a denial reaches the alerts' webhook, so does a policy the
// server rejects on reload; an invalid alerts file is counted and keeps
// the sink in force.
func TestAlerts(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	events := map[alert.Event]int{}
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a alert.Alert
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &a); err != nil {
			t.Errorf("%v: %s", err, b)
		}
		mu.Lock()
		events[a.Event]++
		mu.Unlock()
	}))
	defer rc.Close()
	seen := func(e alert.Event) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return events[e] > 0 }
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "alerts.yaml")
	config := "sinks:\n  - name: hook\n    type: webhook\n    url: " + rc.URL + "\n    dedupeWindow: 0s\n    events: [denied, policy-reload-failed]\n"
	os.WriteFile(path, []byte(config), 0o600)
	m := metrics.New()
	alerts, err := alert.Open(path, alert.Options{Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer alerts.Close()
	r := start(t, func(c *server.Config) {
		c.Alerts, c.Metrics = alerts, m
		c.Admission.Decisions = alerts.Decisions(c.Admission.Decisions)
	})
	pol := filepath.Join(r.dir, "policy.yaml")
	os.WriteFile(pol, []byte(fmt.Sprintf(policyAllow, "deny", false)), 0o600)
	eventually(t, "a denial", func() bool { return strings.Contains(r.review(t), `"allowed":false`) })
	eventually(t, "the denial's alert", seen(alert.EventDenied))

	os.WriteFile(pol, []byte("validators: [oops"), 0o600)
	eventually(t, "the rejected policy's alert", seen(alert.EventPolicyReloadFailed))

	os.WriteFile(path, []byte("sinks: [{name: hook, type: pager}]\n"), 0o600)
	eventually(t, "the rejected alerts file counted", func() bool {
		return strings.Contains(r.metrics(t), `signet_alerts_config_reloads_total{result="error"} 1`)
	})
	if !alerts.Wants(alert.EventDenied) {
		t.Error("the rejected alerts file replaced the sinks")
	}
}

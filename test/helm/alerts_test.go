package helm

import (
	"fmt"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/alert"
)

// TestAlerts: the alerts file becomes a ConfigMap signet parses, mounted
// with the sinks' Secret and named by --alerts; off by default.
func TestAlerts(t *testing.T) {
	t.Parallel()
	config := `{"cluster":"prod","sinks":[{"name":"slack","type":"slack","urlFrom":{"file":"/etc/signet/alerts-secrets/slack-url"},` +
		`"events":["denied","policy-reload-failed"],"template":{"title":"{{.Event}} in {{.Namespace}}"}}]}`
	objs := render(t, "alerts.enabled=true", "alerts.config="+config, "alerts.secretName=signet-alerts", "metrics.prometheusRule.enabled=true")
	if rules := fmt.Sprint(objs["PrometheusRule/rel-signet"]); !strings.Contains(rules, "SignetAlertsLost") {
		t.Errorf("no SignetAlertsLost rule: %s", rules)
	}
	cm := objs["ConfigMap/rel-signet-alerts"]
	data, _ := get(cm, "data", "alerts.yaml").(string)
	c, err := alert.Parse([]byte(data))
	if err != nil {
		t.Fatalf("the rendered alerts file: %v\n%s", err, data)
	}
	if c.Cluster != "prod" || len(c.Sinks) != 1 || c.Sinks[0].Template.Title != "{{.Event}} in {{.Namespace}}" {
		t.Errorf("rendered %+v", c)
	}
	pod := get(objs["Deployment/rel-signet"], "spec", "template", "spec")
	args := fmt.Sprint(get(pod, "containers", 0, "args"))
	mounts := fmt.Sprint(get(pod, "containers", 0, "volumeMounts"))
	volumes := fmt.Sprint(get(pod, "volumes"))
	for what, s := range map[string]string{
		"--alerts=/etc/signet/alerts/alerts.yaml": args, "/etc/signet/alerts-secrets": mounts, "secretName:signet-alerts": volumes, "name:rel-signet-alerts": volumes,
	} {
		if !strings.Contains(s, what) {
			t.Errorf("%s lacks %s", s, what)
		}
	}
	existing := render(t, "alerts.enabled=true", "alerts.existingConfigMap=mine")
	if _, ok := existing["ConfigMap/rel-signet-alerts"]; ok {
		t.Error("a ConfigMap made beside alerts.existingConfigMap")
	}
	if v := fmt.Sprint(get(existing["Deployment/rel-signet"], "spec", "template", "spec", "volumes")); !strings.Contains(v, "name:mine") || strings.Contains(v, "alerts-secrets") {
		t.Errorf("volumes %s", v)
	}
	def := render(t)
	if _, ok := def["ConfigMap/rel-signet-alerts"]; ok || strings.Contains(fmt.Sprint(get(def["Deployment/rel-signet"], "spec", "template", "spec", "containers", 0, "args")), "--alerts") {
		t.Error("alerts on by default")
	}
	if out, err := helm(t, templateArgs("alerts.enabled=true")...); err == nil || !strings.Contains(out, "needs alerts.config") {
		t.Errorf("alerts without a file: %v %s", err, out)
	}
}

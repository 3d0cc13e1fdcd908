package server_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/server"
	"github.com/signet-dev/signet/test/harness"
)

// TestInsecureRegistriesLogged: each policy load that lists
// insecureRegistries logs one warning naming them; loads that list none
// log none.
func TestInsecureRegistriesLogged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeCert(t, dir)
	pol := filepath.Join(dir, "policy.yaml")
	policy := func(list string) []byte {
		return []byte("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\n" + list +
			"validators: [{name: s, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: s}]\n")
	}
	replace := func(b []byte) {
		tmp := pol + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, pol); err != nil {
			t.Fatal(err)
		}
	}
	replace(policy("insecureRegistries: [registry.internal:5000]\n"))
	var logs harness.LogBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	go func() {
		done <- server.Run(ctx, server.Config{
			PolicyFile: pol, CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
			Addr: "127.0.0.1:0", ReloadInterval: 20 * time.Millisecond, ShutdownGrace: time.Second,
			Log:   slog.New(slog.NewJSONHandler(&logs, nil)),
			Ready: func(string, string) { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("server exited: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	t.Cleanup(func() { cancel(); <-done })
	warnings := func() []string {
		var w []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"level":"WARN"`) && strings.Contains(l, "insecureRegistries") {
				w = append(w, l)
			}
		}
		return w
	}
	if w := warnings(); len(w) != 1 || !strings.Contains(w[0], `"registry.internal:5000"`) {
		t.Fatalf("after start, warnings %q", w)
	}
	replace(policy("metadata: {name: second}\n"))
	eventually(t, "the second policy", func() bool { return strings.Contains(logs.String(), `"policy":"second"`) })
	replace(policy("metadata: {name: third}\ninsecureRegistries: [10.0.0.7:5000]\n"))
	eventually(t, "the third policy", func() bool { return strings.Contains(logs.String(), `"policy":"third"`) })
	if w := warnings(); len(w) != 2 || !strings.Contains(w[1], `"10.0.0.7:5000"`) {
		t.Errorf("after two reloads, warnings %q", w)
	}
}

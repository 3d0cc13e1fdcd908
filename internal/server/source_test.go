package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/server"
)

// TestPolicySourceConfig: a policy source the server cannot use is an
// error before anything is served.
func TestPolicySourceConfig(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg  server.Config
		want string
	}{
		{server.Config{}, "no policy"},
		{server.Config{PolicySource: "crds"}, `policy source "crds"`},
		{server.Config{PolicySource: server.SourceCluster}, "need the Kubernetes API"},
	} {
		tc.cfg.Addr, tc.cfg.MetricsAddr = "127.0.0.1:0", ""
		if err := server.Run(context.Background(), tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

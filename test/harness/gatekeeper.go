package harness

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GatekeeperModule is the module hack/tools/gatekeeper pins: its binary is
// Tool(t, "gatekeeper"), its CRDs are GatekeeperCRDs.
const GatekeeperModule = "github.com/open-policy-agent/gatekeeper/v3"

// GatekeeperCRDs writes the CustomResourceDefinitions of the pinned
// Gatekeeper release (its deploy/gatekeeper.yaml, from the Go module) to
// a directory, one file each, for StartAPIServer.
func GatekeeperCRDs(t testing.TB) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", GatekeeperModule)
	cmd.Dir = filepath.Join(Root, "hack", "tools", "gatekeeper")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v", GatekeeperModule, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", GatekeeperModule, err, out)
	}
	b, err := os.ReadFile(filepath.Join(mod.Dir, "deploy", "gatekeeper.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := 0
	for _, doc := range strings.Split(string(b), "\n---\n") {
		if !strings.Contains("\n"+doc, "\nkind: CustomResourceDefinition\n") {
			continue
		}
		n++
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("crd-%02d.yaml", n)), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n == 0 {
		t.Fatal("no CustomResourceDefinition in Gatekeeper's deploy/gatekeeper.yaml")
	}
	return dir
}

package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// buildType names what the provenance's parameters mean: this builder's
// flags.
const buildType = "https://github.com/signet-dev/signet/hack/image/v1"

// writeProvenance writes a SLSA v1 provenance predicate
// (https://slsa.dev/provenance/v1) for cosign attest --type
// slsaprovenance1: the source repository and commit, the command, the
// toolchain and the platforms, and the builder.
func writeProvenance(ctx context.Context, o *options, idx v1.ImageIndex) error {
	goVersion, err := exec.CommandContext(ctx, o.goCmd, "env", "GOVERSION").Output()
	if err != nil {
		return err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	byproducts := []map[string]any{}
	for _, d := range m.Manifests {
		byproducts = append(byproducts, map[string]any{
			"name":   d.Platform.OS + "/" + d.Platform.Architecture,
			"digest": map[string]string{"sha256": d.Digest.Hex},
		})
	}
	platforms := make([]string, len(o.platforms))
	for i, p := range o.platforms {
		platforms[i] = p.String()
	}
	pred := map[string]any{
		"buildDefinition": map[string]any{
			"buildType": buildType,
			"externalParameters": map[string]any{
				"source":    o.source,
				"revision":  o.revision,
				"version":   o.version,
				"command":   o.invocation,
				"platforms": platforms,
			},
			"internalParameters": map[string]any{
				"goVersion": strings.TrimSpace(string(goVersion)),
				"ldflags":   o.ldflags(),
				"cgo":       false,
				"trimpath":  true,
				"base":      "scratch",
				"caBundle":  map[string]string{"path": o.caBundle, "digest": o.caDigest},
			},
			"resolvedDependencies": []map[string]any{{
				"uri":    "git+" + o.source + "@" + o.revision,
				"digest": map[string]string{"gitCommit": o.revision},
			}},
		},
		"runDetails": map[string]any{
			"builder":    map[string]any{"id": o.builderID},
			"metadata":   map[string]any{"finishedOn": time.Now().UTC().Format(time.RFC3339)},
			"byproducts": byproducts,
		},
	}
	b, err := json.MarshalIndent(pred, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(o.provenance, append(b, '\n'), 0o644)
}

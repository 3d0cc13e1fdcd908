package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/signet-dev/signet/test/harness"
)

// ciBuilder is the builder the provenance condition of the attested rule
// asks for, and builderMessage the condition's message.
const (
	ciBuilder      = "https://ci.acme.example/builder"
	builderMessage = "built by the acme CI builder"
)

// TestAttestations: a Deployment whose image carries a SLSA v1 provenance
// made by cosign attest and naming the CI builder is admitted and pinned;
// one whose provenance names another builder is denied with the
// condition's message.
func TestAttestations(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()

	// Images signed and attested by the real cosign v2 CLI with a key of
	// their own.
	cos := harness.NewCosign(t)
	cosign2 := harness.Tool(t, "cosign2")
	key, pub := cos.GenKey(t, cosign2, "builder")
	attested := func(repoTag, builder string) name.Digest {
		d := harness.Push(t, c.reg, repoTag)
		cos.SignV2(t, key, d)
		pred := filepath.Join(cos.Dir, strings.NewReplacer("/", "-", ":", "-").Replace(repoTag)+".json")
		b, err := json.Marshal(map[string]any{
			"buildDefinition": map[string]any{
				"buildType":          "https://ci.acme.example/build/v1",
				"externalParameters": map[string]any{"repository": "https://git.acme.example/app"},
			},
			"runDetails": map[string]any{
				"builder":  map[string]any{"id": builder},
				"metadata": map[string]any{"invocationId": "run-1"},
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(pred, b, 0o600); err != nil {
			t.Fatal(err)
		}
		cos.Run(t, cosign2, "attest", "--yes", "--key", key, "--type", "slsaprovenance1", "--predicate", pred,
			"--tlog-upload=false", "--allow-insecure-registry", "--allow-http-registry", d.String())
		return d
	}
	good := attested("attested/app:good", ciBuilder)
	attested("attested/app:other", "https://ci.evil.example/builder")

	// The policy gains a validator trusting that key and a rule requiring
	// the provenance.
	pemJSON, err := json.Marshal(pub)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := os.ReadFile(c.policyFile)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Replace(string(cur), "validators:\n",
		"validators:\n- {name: builders, type: cosign, trustRoots: [{name: acme-ci, key: "+string(pemJSON)+"}]}\n", 1)
	doc += `- pattern: "` + c.reg + `/attested/**"
  validator: builders
  with:
    attestations:
    - name: built-by-ci
      type: slsaprovenance1
      conditions:
      - expression: 'predicate.runDetails.builder.id == "` + ciBuilder + `"'
        message: ` + builderMessage + `
`
	tmp := c.policyFile + ".new"
	if err := os.WriteFile(tmp, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, c.policyFile); err != nil {
		t.Fatal(err)
	}
	ns := c.namespace(t, nil)
	eventually(t, 20*time.Second, "the attestation policy in force", func() bool {
		_, err := c.cs.AppsV1().Deployments(ns).Create(ctx, deployment("probe", c.reg+"/attested/app:good"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err == nil
	})

	t.Run("a deployment whose image has a good provenance is admitted and pinned", func(t *testing.T) {
		pinned := c.reg + "/attested/app@" + good.DigestStr()
		d, err := c.cs.AppsV1().Deployments(ns).Create(ctx, deployment("built", c.reg+"/attested/app:good"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != pinned {
			t.Errorf("deployment stored with %s, want %s", got, pinned)
		}
		for _, p := range c.deploymentPods(t, ns, "built").Items {
			if got := p.Spec.Containers[0].Image; got != pinned {
				t.Errorf("pod %s runs %s, want %s", p.Name, got, pinned)
			}
		}
	})

	t.Run("a deployment whose provenance names another builder is denied with the condition's message", func(t *testing.T) {
		_, err := c.cs.AppsV1().Deployments(ns).Create(ctx, deployment("other", c.reg+"/attested/app:other"), metav1.CreateOptions{})
		if err == nil {
			t.Fatal("admitted")
		}
		for _, want := range []string{"signet denied 1 image(s)", `attestation requirement "built-by-ci"`, builderMessage} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("denial lacks %q: %v", want, err)
			}
		}
	})
}

package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/signet-dev/signet/internal/keysource"
	"github.com/signet-dev/signet/internal/registry"
)

// LintReport is what Lint found in a policy: its errors (none when the
// policy is valid) and notes on what only a cluster can check.
type LintReport struct {
	Errors []FieldError `json:"errors"`
	Notes  []FieldError `json:"notes"`
}

// Valid reports whether the policy has no error.
func (r LintReport) Valid() bool { return len(r.Errors) == 0 }

// LintFile reads the policy file at path and lints it. The error is for a
// file that cannot be read.
func LintFile(path string) (LintReport, error) {
	data, err := readFile(path)
	if err != nil {
		return LintReport{}, err
	}
	return Lint(data), nil
}

// LintReader reads a policy from r (MaxDocumentBytes at most: Lint
// reports a larger one) and lints it. The error is for r failing.
func LintReader(r io.Reader) (LintReport, error) {
	data, err := readBounded(r)
	if err != nil {
		return LintReport{}, fmt.Errorf("reading policy: %w", err)
	}
	return Lint(data), nil
}

// Lint checks a policy as signet serve loads it — Parse, then Compile —
// offline, and reports every problem at once, ordered by line: a field of
// the wrong type, or unknown, does not hide the problems of the rest of
// the document (only those under that field, which would repeat it). No
// network or Kubernetes API is used: an auth.secretName and a k8s:// key
// are checked by their syntax, a KMS key by its URI, and a note says what
// remains for the cluster to check.
//
// data may also be a ClusterImagePolicy or ImagePolicy resource (metadata,
// spec, status, as kubectl get -o yaml prints it): its spec is checked,
// with field paths beginning with "spec.".
func Lint(data []byte) LintReport {
	doc, p := parse(data, true)
	var r LintReport
	if doc != nil {
		p = withMeaning(doc, p)
		r.Notes = clusterNotes(doc)
	}
	r.Errors = p
	return r
}

// withMeaning adds to the shape problems of doc (decoded without the
// fields they name) the problems Compile finds in the rest of it, offline,
// located and ordered by line.
func withMeaning(doc *Document, shape problems) problems {
	p := shape
	_, err := Compile(doc, nil, Offline())
	if doc.src != nil && doc.src.namespace != "" {
		q := checkNamespaced(doc, doc.src.namespace)
		doc.src.locate(q)
		if ie, ok := errors.AsType[*InvalidError](err); ok {
			q = append(ie.Errs, q...)
		}
		err = q.err()
	}
	if ie, ok := errors.AsType[*InvalidError](err); ok {
		for _, fe := range ie.Errs {
			if !underAny(fe.Field, shape) {
				p = append(p, fe)
			}
		}
	}
	sortByPosition(p)
	return p
}

// underAny reports whether field is one of the fields of shape, or inside
// one: a problem there would only repeat the shape problem.
func underAny(field string, shape problems) bool {
	for _, s := range shape {
		if s.Field == "" || field == s.Field || strings.HasPrefix(field, s.Field+".") || strings.HasPrefix(field, s.Field+"[") {
			return true
		}
	}
	return false
}

// clusterNotes says, for each check Lint cannot make offline, what the
// cluster (or the KMS) will check when signet serve uses the policy.
func clusterNotes(doc *Document) []FieldError {
	var p problems
	for i, v := range doc.Validators {
		f := fmt.Sprintf("validators[%d]", i)
		if v.Auth != nil && v.Auth.SecretName != "" {
			p.add(f+".auth.secretName", "Secret %q: only its name is checked here; that it exists in signet's namespace and holds registry credentials needs the cluster (signet serve, signet verify --kubeconfig)", v.Auth.SecretName)
		}
		for j, tr := range v.TrustRoots {
			tf := fmt.Sprintf("%s.trustRoots[%d].key", f, j)
			switch {
			case strings.HasPrefix(tr.Key, keysource.SecretScheme):
				p.add(tf, "%s: only its syntax is checked here; the Secret and the key in it are read from the cluster on first use", tr.Key)
			case keysource.IsRef(tr.Key):
				p.add(tf, "%s: only its syntax is checked here; the key is fetched from the KMS on first use", tr.Key)
			}
		}
	}
	for i, r := range doc.Rules {
		if w := r.With.Platforms; w != nil && len(w.AnyOf) > 0 {
			p.add(fmt.Sprintf("rules[%d].with.platforms.any-of", i), "only the manifests of [%s] are verified: a node of another platform pulls its own manifest of the index, unverified; keep these workloads on the listed platforms (a kubernetes.io/arch node selector) or use platforms: all", strings.Join(w.AnyOf, ", "))
		}
	}
	doc.src.locate(p)
	sortByPosition(p)
	return p
}

// offlineSecrets stands in for the cluster's Secrets while linting:
// Compile records where Secrets are read, and never reads one.
type offlineSecrets struct{}

var errOffline = errors.New("Secrets are not read while linting")

func (offlineSecrets) Secret(context.Context, string) (*registry.Keychain, error) {
	return nil, errOffline
}

func (offlineSecrets) Get(context.Context, string, string) (map[string][]byte, error) {
	return nil, errOffline
}

// Offline compiles as Lint does: validators' auth.secretName Secrets and
// k8s:// keys are checked by their syntax and never read (they are read
// when an image is verified). signet's policy webhook compiles with it: the
// admission of a policy object reads no Secret.
func Offline() CompileOption {
	return func(o *compileOptions) { o.secrets, o.keys = offlineSecrets{}, offlineSecrets{} }
}

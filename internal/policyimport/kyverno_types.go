package policyimport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Kyverno's ClusterPolicy and Policy (kyverno.io/v1, v2beta1), the fields
// of their verifyImages rules that the converter reads. Fields it does not
// know are reported by unknownFields.

type kyObject struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec kySpec `yaml:"spec"`
}

type kySpec struct {
	ValidationFailureAction          string    `yaml:"validationFailureAction"`
	ValidationFailureActionOverrides yaml.Node `yaml:"validationFailureActionOverrides"`
	FailurePolicy                    string    `yaml:"failurePolicy"`
	Background                       *bool     `yaml:"background"`
	WebhookTimeoutSeconds            *int      `yaml:"webhookTimeoutSeconds"`
	Rules                            []kyRule  `yaml:"rules"`
}

type kyRule struct {
	Name          string     `yaml:"name"`
	Match         yaml.Node  `yaml:"match"`
	Exclude       yaml.Node  `yaml:"exclude"`
	Preconditions yaml.Node  `yaml:"preconditions"`
	Context       yaml.Node  `yaml:"context"`
	VerifyImages  []kyVerify `yaml:"verifyImages"`
}

type kyVerify struct {
	Type                     string          `yaml:"type"`
	Image                    string          `yaml:"image"`
	ImageReferences          []string        `yaml:"imageReferences"`
	SkipImageReferences      []string        `yaml:"skipImageReferences"`
	Key                      string          `yaml:"key"`
	Roots                    string          `yaml:"roots"`
	Subject                  string          `yaml:"subject"`
	Issuer                   string          `yaml:"issuer"`
	AdditionalExtensions     yaml.Node       `yaml:"additionalExtensions"`
	Attestors                []kyAttestorSet `yaml:"attestors"`
	Attestations             []kyAttestation `yaml:"attestations"`
	Annotations              yaml.Node       `yaml:"annotations"`
	Repository               string          `yaml:"repository"`
	Cosign                   yaml.Node       `yaml:"cosignOCI11"`
	MutateDigest             *bool           `yaml:"mutateDigest"`
	VerifyDigest             *bool           `yaml:"verifyDigest"`
	Validate                 yaml.Node       `yaml:"validate"`
	Required                 *bool           `yaml:"required"`
	UseCache                 *bool           `yaml:"useCache"`
	ImageRegistryCredentials *kyCredentials  `yaml:"imageRegistryCredentials"`
	FailureAction            string          `yaml:"failureAction"`
}

type kyAttestorSet struct {
	Count   *int         `yaml:"count"`
	Entries []kyAttestor `yaml:"entries"`
}

type kyAttestor struct {
	Keys         *kyKeys        `yaml:"keys"`
	Certificates *kyCerts       `yaml:"certificates"`
	Keyless      *kyKeyless     `yaml:"keyless"`
	Attestor     *kyAttestorSet `yaml:"attestor"`
	Annotations  yaml.Node      `yaml:"annotations"`
	Repository   string         `yaml:"repository"`
}

type kyKeys struct {
	PublicKeys string `yaml:"publicKeys"`
	Secret     *struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"secret"`
	KMS                string   `yaml:"kms"`
	SignatureAlgorithm string   `yaml:"signatureAlgorithm"`
	Rekor              *kyRekor `yaml:"rekor"`
	CTLog              *kyCTLog `yaml:"ctlog"`
}

type kyCerts struct {
	Cert      string   `yaml:"cert"`
	CertChain string   `yaml:"certChain"`
	Rekor     *kyRekor `yaml:"rekor"`
	CTLog     *kyCTLog `yaml:"ctlog"`
}

type kyKeyless struct {
	Subject              string    `yaml:"subject"`
	Issuer               string    `yaml:"issuer"`
	SubjectRegExp        string    `yaml:"subjectRegExp"`
	IssuerRegExp         string    `yaml:"issuerRegExp"`
	Roots                string    `yaml:"roots"`
	AdditionalExtensions yaml.Node `yaml:"additionalExtensions"`
	Rekor                *kyRekor  `yaml:"rekor"`
	CTLog                *kyCTLog  `yaml:"ctlog"`
}

type kyRekor struct {
	URL        string `yaml:"url"`
	PubKey     string `yaml:"pubkey"`
	IgnoreTlog bool   `yaml:"ignoreTlog"`
}

type kyCTLog struct {
	IgnoreSCT bool   `yaml:"ignoreSCT"`
	PubKey    string `yaml:"pubkey"`
}

type kyAttestation struct {
	Name          string          `yaml:"name"`
	Type          string          `yaml:"type"`
	PredicateType string          `yaml:"predicateType"`
	Attestors     []kyAttestorSet `yaml:"attestors"`
	Conditions    []kyAnyAll      `yaml:"conditions"`
}

type kyAnyAll struct {
	Any []kyCondition `yaml:"any"`
	All []kyCondition `yaml:"all"`
}

type kyCondition struct {
	Key      yaml.Node `yaml:"key"`
	Operator string    `yaml:"operator"`
	Value    yaml.Node `yaml:"value"`
	Message  string    `yaml:"message"`
}

type kyCredentials struct {
	AllowInsecureRegistry bool     `yaml:"allowInsecureRegistry"`
	Providers             []string `yaml:"providers"`
	Secrets               []string `yaml:"secrets"`
}

// Bounds on what one import reads: documents per file, policy objects,
// verifyImages entries, and nesting of attestor sets.
const (
	maxKyvernoDocuments = 10000
	maxKyvernoPolicies  = 1000
	maxKyvernoEntries   = 1000
	maxAttestorDepth    = 4
	maxAttestorEntries  = 64
	maxReferences       = 256
)

// kyPolicy is one ClusterPolicy or Policy read from the input.
type kyPolicy struct {
	obj    kyObject
	source string // "file: ClusterPolicy/name"
	// notes found while reading it.
	notes []string
}

// readKyverno reads every Kyverno policy object in data: multi-document
// YAML (or JSON), List objects. Documents of other kinds are skipped.
func readKyverno(name string, data []byte) ([]kyPolicy, []Note, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []kyPolicy
	var notes []Note
	for doc := 0; ; doc++ {
		if doc >= maxKyvernoDocuments {
			return nil, nil, fmt.Errorf("%s: more than %d documents", name, maxKyvernoDocuments)
		}
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return out, notes, nil
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: document %d: %w", name, doc+1, err)
		}
		pols, ns := kyvernoObjects(name, &n, 0)
		out = append(out, pols...)
		notes = append(notes, ns...)
		if len(out) > maxKyvernoPolicies {
			return nil, nil, fmt.Errorf("%s: more than %d Kyverno policies", name, maxKyvernoPolicies)
		}
	}
}

// kyvernoObjects decodes one document: a policy, a List of them, or
// something else (skipped with a note).
func kyvernoObjects(name string, n *yaml.Node, depth int) ([]kyPolicy, []Note) {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		if n.Kind == 0 || n.Tag == "!!null" {
			return nil, nil // an empty document
		}
		return nil, []Note{{Source: name, Message: "a document that is not an object; skipped"}}
	}
	var head struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
	}
	_ = n.Decode(&head)
	group, _, _ := strings.Cut(head.APIVersion, "/")
	switch {
	case head.Kind == "List" || strings.HasSuffix(head.Kind, "List") && depth == 0:
		var l struct {
			Items []yaml.Node `yaml:"items"`
		}
		if err := n.Decode(&l); err != nil {
			return nil, []Note{{Source: name, Message: fmt.Sprintf("a %s whose items cannot be read: %v; skipped", head.Kind, err)}}
		}
		var out []kyPolicy
		var notes []Note
		if depth > 0 {
			return nil, []Note{{Source: name, Message: "a List inside a List; skipped"}}
		}
		for i := range l.Items {
			p, ns := kyvernoObjects(name, &l.Items[i], depth+1)
			out = append(out, p...)
			notes = append(notes, ns...)
		}
		return out, notes
	case group == "kyverno.io" && (head.Kind == "ClusterPolicy" || head.Kind == "Policy"):
	default:
		if head.Kind != "" {
			return nil, []Note{{Source: name, Message: fmt.Sprintf("%s %s is not a Kyverno ClusterPolicy or Policy; skipped", head.APIVersion, head.Kind)}}
		}
		return nil, []Note{{Source: name, Message: "a document without a kind; skipped"}}
	}
	var p kyPolicy
	err := n.Decode(&p.obj)
	p.source = fmt.Sprintf("%s: %s/%s", name, p.obj.Kind, p.obj.Metadata.Name)
	var te *yaml.TypeError
	switch {
	case errors.As(err, &te):
		for _, e := range te.Errors {
			p.notes = append(p.notes, "not read: "+e)
		}
	case err != nil:
		return nil, []Note{{Source: p.source, Message: fmt.Sprintf("cannot be read: %v; skipped", err)}}
	}
	p.notes = append(p.notes, unknownVerifyFields(n)...)
	return []kyPolicy{p}, nil
}

// knownVerifyFields are the verifyImages fields kyVerify reads.
var knownVerifyFields = map[string]bool{
	"type": true, "image": true, "imageReferences": true, "skipImageReferences": true, "key": true,
	"roots": true, "subject": true, "issuer": true, "additionalExtensions": true, "attestors": true,
	"attestations": true, "annotations": true, "repository": true, "cosignOCI11": true,
	"mutateDigest": true, "verifyDigest": true, "validate": true, "required": true, "useCache": true,
	"imageRegistryCredentials": true, "failureAction": true,
}

// unknownVerifyFields lists the verifyImages fields of policy node n that
// the converter does not read.
func unknownVerifyFields(n *yaml.Node) []string {
	var out []string
	rules := child(child(n, "spec"), "rules")
	if rules == nil || rules.Kind != yaml.SequenceNode {
		return nil
	}
	for i, r := range rules.Content {
		vi := child(r, "verifyImages")
		if vi == nil || vi.Kind != yaml.SequenceNode {
			continue
		}
		for j, v := range vi.Content {
			if v.Kind != yaml.MappingNode {
				continue
			}
			for k := 0; k+1 < len(v.Content); k += 2 {
				if key := v.Content[k].Value; !knownVerifyFields[key] {
					out = append(out, fmt.Sprintf("rules[%d].verifyImages[%d].%s is not known to the converter; not converted", i, j, key))
				}
			}
		}
	}
	return out
}

// child returns the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// present reports whether a yaml.Node field was set (not absent or null).
func present(n yaml.Node) bool { return n.Kind != 0 && n.Tag != "!!null" }

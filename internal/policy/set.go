package policy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/signet-dev/signet/internal/keysource"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/workload"
)

// ObjectRef identifies a policy object: a ClusterImagePolicy (Namespace
// empty) or a namespaced ImagePolicy, at a generation.
type ObjectRef struct {
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	Generation int64  `json:"generation,omitempty"`
}

// String names the object as reasons do: `ClusterImagePolicy "base"`,
// `ImagePolicy "team-a/keys"`.
func (o ObjectRef) String() string {
	if o.Namespace != "" {
		return fmt.Sprintf("%s %q", o.Kind, o.Namespace+"/"+o.Name)
	}
	return fmt.Sprintf("%s %q", o.Kind, o.Name)
}

// Object is a policy object to compile: its identity and its document
// (v1alpha1's Document methods, or a file's Parse with Kind
// ClusterImagePolicy: a file is one ClusterImagePolicy).
type Object struct {
	Ref ObjectRef
	Doc *Document
}

// Set is every policy object in force: the ClusterImagePolicies, which
// together are the cluster policy, and the namespaced ImagePolicies.
type Set struct {
	Objects []Object
}

// ObjectError is the problem of one object of a Set: Err is an
// *InvalidError with the object's field paths ("spec.rules[0]…").
type ObjectError struct {
	Object ObjectRef
	Err    error
}

func (e ObjectError) Error() string { return e.Object.String() + ": " + e.Err.Error() }
func (e ObjectError) Unwrap() error { return e.Err }

// Unit is one policy object compiled on its own: immutable, and reusable
// in any number of engines. Its validator names are its own.
type Unit struct {
	ref     ObjectRef
	rules   []*compiledRule // most specific first
	mode    string
	pinning string
	// insecure are the object's insecureRegistries (a ClusterImagePolicy's).
	insecure []string
	// resources are the kinds a ClusterImagePolicy declares.
	resources map[string]*workload.Resource
}

// Object returns the identity the unit was compiled for.
func (u *Unit) Object() ObjectRef { return u.ref }

// Rules returns the number of compiled rules (the status's rule count).
func (u *Unit) Rules() int { return len(u.rules) }

// CompileUnit compiles one policy object as Compile compiles a document,
// with the namespaced ImagePolicy's limits on top: it may only add
// requirements, so what would weaken the cluster policy or reach beyond
// its namespace is refused with its field path (a k8s:// key outside its
// namespace, a delegation, pinning or with.mutate: false, auth.secretName,
// trustedRootFile, insecureRegistries). The options must be those Assemble
// gets.
func CompileUnit(obj Object, reg Registry, opts ...CompileOption) (*Unit, error) {
	ref := obj.Ref
	var p problems
	switch {
	case ref.Kind == KindCluster && ref.Namespace != "":
		p.add("metadata.namespace", "a ClusterImagePolicy is cluster-scoped; got namespace %q", ref.Namespace)
	case ref.Kind == Kind && ref.Namespace == "":
		p.add("metadata.namespace", "an ImagePolicy resource is namespaced; a file is the cluster's policy (kind ClusterImagePolicy here)")
	case ref.Kind != Kind && ref.Kind != KindCluster:
		p.add("kind", "must be %q or %q, got %q", Kind, KindCluster, ref.Kind)
	case obj.Doc == nil:
		p.add("", "policy is empty")
	}
	if len(p) > 0 {
		return nil, p.err()
	}
	doc := obj.Doc
	if ref.Namespace != "" {
		if len(doc.Rules) > MaxNamespacedRules || len(doc.Validators) > MaxNamespacedValidators {
			// Refused by its size, before compiling what it holds.
			p = checkNamespaced(doc, ref.Namespace)
			doc.src.locate(p)
			return nil, p.err()
		}
		p = checkNamespaced(doc, ref.Namespace)
		doc.src.locate(p)
		doc = withoutFiles(doc)
	}
	e, err := Compile(doc, reg, opts...)
	if ie, ok := errors.AsType[*InvalidError](err); ok {
		p = append(ie.Errs, p...)
	} else if err != nil {
		return nil, err
	}
	if len(p) > 0 {
		sortByPosition(p)
		return nil, p.err()
	}
	u := &Unit{ref: ref, mode: e.mode, pinning: e.pinning, insecure: e.insecureList, resources: e.resources, rules: make([]*compiledRule, len(e.rules))}
	for i, r := range e.rules {
		c := *r
		c.unit, c.where = u, ref.String()+" "+r.where
		u.rules[i] = &c
	}
	return u, nil
}

// Bounds on one ImagePolicy, whose author is a namespace's, not the
// cluster's: what signet keeps compiled for it is then bounded per object
// (the number of objects is the cluster's to bound, with a ResourceQuota
// on count/imagepolicies.signet.dev).
const (
	// MaxNamespacedRules bounds the rules of one ImagePolicy.
	MaxNamespacedRules = 128
	// MaxNamespacedValidators bounds its validators.
	MaxNamespacedValidators = 16
)

// checkNamespaced returns what an ImagePolicy in namespace ns may not say.
func checkNamespaced(doc *Document, ns string) problems {
	var p problems
	if len(doc.Rules) > MaxNamespacedRules {
		p.add("rules", "%d rules; an ImagePolicy has at most %d", len(doc.Rules), MaxNamespacedRules)
	}
	if len(doc.Validators) > MaxNamespacedValidators {
		p.add("validators", "%d validators; an ImagePolicy has at most %d", len(doc.Validators), MaxNamespacedValidators)
	}
	if doc.Pinning != "" && doc.Pinning != PinAll {
		p.add("pinning", "pinning is the cluster policy's to relax; an ImagePolicy only adds requirements")
	}
	if len(doc.InsecureRegistries) > 0 {
		p.add("insecureRegistries", "only a ClusterImagePolicy lets signet reach registries over plain HTTP")
	}
	if len(doc.Resources) > 0 {
		p.add("resources", "only a ClusterImagePolicy declares the kinds the webhook reads")
	}
	for i, v := range doc.Validators {
		f := fmt.Sprintf("validators[%d]", i)
		if v.Auth != nil && v.Auth.SecretName != "" {
			p.add(f+".auth.secretName", "names a Secret in signet's namespace, which an ImagePolicy may not use; the workload's pull secrets are offered to the registry")
		}
		if v.TrustedRootFile != "" {
			p.add(f+".trustedRootFile", "a file on signet's host; an ImagePolicy gives trustedRoot inline or tuf")
		}
		if v.TrustPolicyFile != "" || v.TrustStoreDir != "" {
			p.add(f+".trustPolicyFile", "files on signet's host; an ImagePolicy gives notation trustRoots inline")
		}
		for j, tr := range v.TrustRoots {
			rest, ok := strings.CutPrefix(tr.Key, keysource.SecretScheme)
			if other, _, _ := strings.Cut(rest, "/"); ok && other != ns {
				p.add(fmt.Sprintf("%s.trustRoots[%d].key", f, j), "an ImagePolicy in namespace %q may only name Secrets in its own namespace (%s%s/…), not in %q", ns, keysource.SecretScheme, ns, other)
			}
		}
	}
	for i, r := range doc.Rules {
		f := fmt.Sprintf("rules[%d]", i)
		if r.Validator == ValidatorNamespace || slices.Contains(r.Validators, ValidatorNamespace) {
			p.add(f+".validator", "%q delegates a ClusterImagePolicy rule to the namespace; an ImagePolicy's rules verify images themselves", ValidatorNamespace)
		}
		if r.With.Mutate != nil && !*r.With.Mutate {
			p.add(f+".with.mutate", "pinning is the cluster policy's to turn off: an unpinned tag could run content no rule verified")
		}
	}
	return p
}

// withoutFiles returns doc without the files its validators name
// (trustedRootFile, trustPolicyFile, trustStoreDir), which checkNamespaced reports: an ImagePolicy never
// makes signet read a file of its host.
func withoutFiles(doc *Document) *Document {
	if !slices.ContainsFunc(doc.Validators, func(v Validator) bool {
		return v.TrustedRootFile != "" || v.TrustPolicyFile != "" || v.TrustStoreDir != ""
	}) {
		return doc
	}
	c := *doc
	c.Validators = slices.Clone(doc.Validators)
	for i := range c.Validators {
		c.Validators[i].TrustedRootFile = ""
		c.Validators[i].TrustPolicyFile, c.Validators[i].TrustStoreDir = "", ""
	}
	return &c
}

// compileDelegation compiles a rule with validator: namespace: it only
// says that the namespace decides, so only with.mode and with.mutate apply.
func compileDelegation(f string, i int, r Rule, pat *Pattern, ok bool, p *problems) *compiledRule {
	if len(r.Validators) > 0 {
		p.add(f+".validators", "%q delegates the rule's images to the namespace and cannot be listed with other validators; write validator: %s", ValidatorNamespace, ValidatorNamespace)
		return nil
	}
	w := r.With
	w.Mode, w.Mutate = "", nil
	if !reflect.DeepEqual(w, RuleOptions{}) {
		p.add(f+".with", "only mode and mutate apply to a rule with validator: %s (the namespace's rules say how its images are verified)", ValidatorNamespace)
		return nil
	}
	if !ok {
		return nil
	}
	return &compiledRule{index: i, pattern: pat, validator: ValidatorNamespace, vtype: ValidatorNamespace,
		verifier: delegated{}, delegate: true, hash: ruleHash(r, nil),
		where: fmt.Sprintf("rule %q (validator %q)", pat.String(), ValidatorNamespace)}
}

// delegated is the verifier of a delegating rule, never asked to verify
// (the engine decides by the namespace's rules): it fails.
type delegated struct{}

func (delegated) Verify(context.Context, verify.Image) (*verify.Result, error) {
	return nil, verify.Failf("delegated to the namespace's ImagePolicies")
}

// objectSet is what an engine from CompileSet holds besides the cluster
// rules (Engine.rules).
type objectSet struct {
	units []*Unit
	// namespaced indexes the ImagePolicies by namespace: an evaluation
	// reads those of its namespace only.
	namespaced map[string][]*Unit
}

// CompileSet compiles every object of set and assembles those that
// compile into one Engine; each object that does not is reported, and
// the others are in force without it. To keep an invalid object's last
// valid form in force instead, compile objects one at a time with
// CompileUnit, keep the units, and Assemble them.
func CompileSet(set Set, reg Registry, opts ...CompileOption) (*Engine, []ObjectError) {
	var units []*Unit
	var errs []ObjectError
	keyRefs := map[string]*keysource.Source{} // one Source per key across the objects
	unitOpts := append(slices.Clip(opts), func(o *compileOptions) { o.keyRefs = keyRefs })
	for _, obj := range set.Objects {
		u, err := CompileUnit(obj, reg, unitOpts...)
		if err != nil {
			errs = append(errs, ObjectError{Object: obj.Ref, Err: err})
			continue
		}
		units = append(units, u)
	}
	return Assemble(units, reg, opts...), errs
}

// Assemble builds an Engine from compiled units (compiled with the same
// reg and options; only WithCache matters here). The ClusterImagePolicies
// are the cluster policy: an image is governed by the most specific
// matching pattern across all of them, and equally specific matching
// patterns of several objects must all allow. The ImagePolicies of a
// namespace add requirements for its workloads (EvaluateFor). With no
// ClusterImagePolicy every image is denied. The engine's Pinning is the
// ClusterImagePolicies' that rewrites least; each Decision's Pinning is
// that of the objects whose rules decided it, and is the one to use.
func Assemble(units []*Unit, reg Registry, opts ...CompileOption) *Engine {
	var o compileOptions
	for _, opt := range opts {
		opt(&o)
	}
	set := &objectSet{units: units, namespaced: map[string][]*Unit{}}
	e := &Engine{set: set, mode: ModeAudit, pinning: PinAll, reg: reg, indexes: newIndexListings()}
	var names []string
	n := 0
	for _, u := range units {
		if u.ref.Namespace == "" {
			n += len(u.rules)
		}
	}
	e.rules = make([]*compiledRule, 0, n)
	for _, u := range units {
		if u.ref.Namespace != "" {
			set.namespaced[u.ref.Namespace] = append(set.namespaced[u.ref.Namespace], u)
			continue
		}
		names = append(names, u.ref.Name)
		e.rules = append(e.rules, u.rules...)
		e.mode = stricter(e.mode, u.mode)
		e.pinning = lessPinning(e.pinning, u.pinning)
		for _, h := range u.insecure {
			if !slices.Contains(e.insecureList, h) {
				e.insecureList = append(e.insecureList, h)
			}
		}
		e.resources = mergeResources(e.resources, u.resources)
	}
	if len(names) == 0 {
		e.mode = ModeEnforce
	}
	sort.SliceStable(e.rules, func(a, b int) bool { return e.rules[a].pattern.moreSpecific(e.rules[b].pattern) })
	slices.Sort(names)
	e.name = strings.Join(names, ",")
	e.insecure = registry.NewInsecure(e.insecureList...)
	if o.cache != nil {
		e.reg = cachedRegistry{Registry: reg, c: o.cache}
	}
	return e
}

// Units returns the objects an engine from CompileSet or Assemble holds;
// nil for one from Compile.
func (e *Engine) Units() []*Unit {
	if e.set == nil {
		return nil
	}
	return e.set.units
}

// Stamped returns a copy of e that says which policy it is: generation
// counts the engines put in force by the process serving it, hash names
// the objects (and their generations) it was assembled from, alike on
// every replica with the same objects. The copy shares e's compiled
// rules; e is unchanged.
func (e *Engine) Stamped(generation int64, hash string) *Engine {
	c := *e
	c.generation, c.hash = generation, hash
	return &c
}

// Generation returns the generation given to Stamped (0 when not
// stamped).
func (e *Engine) Generation() int64 { return e.generation }

// Hash returns the hash given to Stamped ("" when not stamped).
func (e *Engine) Hash() string { return e.hash }

// modeRank orders modes by strictness.
func modeRank(m string) int {
	switch m {
	case ModeEnforce:
		return 2
	case ModeWarn:
		return 1
	}
	return 0
}

// stricter returns the stricter of two modes (enforce > warn > audit).
func stricter(a, b string) string {
	if modeRank(b) > modeRank(a) {
		return b
	}
	return a
}

// pinRank orders pinning modes by how much they rewrite.
func pinRank(p string) int {
	switch p {
	case PinNone:
		return 0
	case PinPodsOnly:
		return 1
	}
	return 2
}

// lessPinning returns the pinning mode of a and b that rewrites less.
func lessPinning(a, b string) string {
	if pinRank(cmp.Or(b, PinAll)) < pinRank(cmp.Or(a, PinAll)) {
		return b
	}
	return a
}

// mergeResources adds the kinds of one ClusterImagePolicy to those of the
// others. A kind two objects declare gets the images of both: every place
// either says holds an image is checked.
func mergeResources(into, from map[string]*workload.Resource) map[string]*workload.Resource {
	for k, r := range from {
		if into == nil {
			into = map[string]*workload.Resource{}
		}
		have := into[k]
		if have == nil {
			into[k] = r
			continue
		}
		m := &workload.Resource{Kind: have.Kind, PodTemplates: slices.Clone(have.PodTemplates), Expressions: slices.Clone(have.Expressions)}
		for _, t := range r.PodTemplates {
			if !slices.Contains(m.PodTemplates, t) {
				m.PodTemplates = append(m.PodTemplates, t)
			}
		}
		m.Expressions = append(m.Expressions, r.Expressions...)
		into[k] = m
	}
	return into
}

// KeySources returns the key sources (k8s:// Secrets and KMS keys) of
// every rule of the engine, the trust roots of its attestation
// requirements and the rules of its namespaced ImagePolicies included,
// each once: the keys to watch for rotation (keysource.Watch). An engine
// from Compile or CompileSet has one Source per reference; one Assembled
// from units compiled apart may have several Sources of one reference
// (one per object naming it), all listed, which keysource.Watch reads
// once.
func (e *Engine) KeySources() []*keysource.Source {
	var out []*keysource.Source
	seen := map[*keysource.Source]bool{}
	add := func(rules []*compiledRule) {
		for _, r := range rules {
			for _, k := range r.keys {
				if !seen[k] {
					seen[k] = true
					out = append(out, k)
				}
			}
		}
	}
	add(e.rules)
	if e.set != nil {
		for _, u := range e.set.units {
			if u.ref.Namespace != "" {
				add(u.rules)
			}
		}
	}
	return out
}

package policy

import (
	"fmt"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/signet-dev/signet/internal/attest"
	"github.com/signet-dev/signet/internal/workload"
)

// MaxResources bounds the kinds a policy declares (spec.resources), and
// MaxResourceImages the images entries of one kind: each is a CEL program
// or a pointer kept by the engine, and each images entry of a kind is read
// for every object of that kind admitted.
const (
	MaxResources      = 64
	MaxResourceImages = 16
)

// kindRE is the syntax of a kind: an upper-case letter, then letters and
// digits, as Kubernetes kinds are spelled.
var kindRE = regexp.MustCompile(`^[A-Z][A-Za-z0-9]{0,62}$`)

// resourceKey keys a declared kind.
func resourceKey(group, version, kind string) string { return group + "/" + version + "/" + kind }

// compileResources compiles spec.resources: the kinds beyond the built-in
// ones whose objects are verified, keyed by resourceKey.
func compileResources(rs []Resource, p *problems) map[string]*workload.Resource {
	if len(rs) > MaxResources {
		p.add("resources", "%d kinds; at most %d", len(rs), MaxResources)
		return nil
	}
	out := map[string]*workload.Resource{}
	seen := map[string]int{}
	for i, r := range rs {
		f := fmt.Sprintf("resources[%d]", i)
		ok := true
		check := func(field, value string, errs []string) {
			switch {
			case value == "":
				p.add(f+"."+field, "is required")
				ok = false
			case len(errs) > 0:
				p.add(f+"."+field, "%q is not a valid %s: %s", value, field, strings.Join(errs, "; "))
				ok = false
			}
		}
		check("group", r.Group, validation.IsDNS1123Subdomain(r.Group))
		check("version", r.Version, validation.IsDNS1123Label(r.Version))
		var kindErrs []string
		if !kindRE.MatchString(r.Kind) {
			kindErrs = []string{"a kind is an upper-case letter then letters and digits, at most 63 (Rollout)"}
		}
		check("kind", r.Kind, kindErrs)
		if workload.Supported(r.Kind) {
			p.add(f+".kind", "%s is one of the built-in kinds signet reads whatever its group; declare only other kinds", r.Kind)
			ok = false
		}
		key := resourceKey(r.Group, r.Version, r.Kind)
		if j, dup := seen[key]; dup {
			p.add(f, "%s/%s %s is declared twice (also resources[%d])", r.Group, r.Version, r.Kind, j)
			ok = false
		}
		seen[key] = i
		res, rok := compileResourceImages(f, r, p)
		if ok && rok {
			out[key] = res
		}
	}
	return out
}

// compileResourceImages compiles the images entries of one kind.
func compileResourceImages(f string, r Resource, p *problems) (*workload.Resource, bool) {
	res := &workload.Resource{Kind: r.Kind}
	switch {
	case len(r.Images) == 0:
		p.add(f+".images", "at least one entry is required (an expression or a podTemplate)")
		return nil, false
	case len(r.Images) > MaxResourceImages:
		p.add(f+".images", "%d entries; at most %d", len(r.Images), MaxResourceImages)
		return nil, false
	}
	ok := true
	for j, im := range r.Images {
		jf := fmt.Sprintf("%s.images[%d]", f, j)
		switch {
		case im.Expression != "" && im.PodTemplate != "":
			p.add(jf, "expression and podTemplate are exclusive; give each its own entry")
			ok = false
		case im.PodTemplate != "":
			if err := workload.CheckPointer(im.PodTemplate); err != nil {
				p.add(jf+".podTemplate", "%v", err)
				ok = false
				continue
			}
			res.PodTemplates = append(res.PodTemplates, im.PodTemplate)
		case strings.TrimSpace(im.Expression) != "":
			e, err := attest.CompilePaths(im.Expression)
			if err != nil {
				p.add(jf+".expression", "%v", err)
				ok = false
				continue
			}
			res.Expressions = append(res.Expressions, e)
		default:
			p.add(jf, "an expression (CEL, returning the JSON pointers of image fields) or a podTemplate (the JSON pointer of a PodTemplateSpec) is required")
			ok = false
		}
	}
	return res, ok
}

// Resource returns where the objects of group/version/kind keep their
// images when the policy declares that kind (spec.resources), else nil.
func (e *Engine) Resource(group, version, kind string) *workload.Resource {
	return e.resources[resourceKey(group, version, kind)]
}

// Resources returns the kinds the policy declares, as
// "group/version/kind", in no particular order.
func (e *Engine) Resources() []string {
	out := make([]string, 0, len(e.resources))
	for k := range e.resources {
		out = append(out, k)
	}
	return out
}

package workload

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Section is the list a container belongs to.
type Section string

// The container lists of a PodSpec.
const (
	Containers          Section = "containers"
	InitContainers      Section = "initContainers"
	EphemeralContainers Section = "ephemeralContainers"
	// Volumes holds image volumes (volumes[].image.reference, the
	// ImageVolume feature): the node pulls them like container images.
	Volumes Section = "volumes"
)

// Image is one image reference in an object: a container's image or an
// image volume's reference.
type Image struct {
	// Path is the JSON pointer of the image field
	// ("/spec/template/spec/containers/0/image",
	// "/spec/volumes/2/image/reference").
	Path string
	// Section and Container locate the container; for Volumes, Container
	// is the volume's name.
	Section   Section
	Container string
	// Ref is the image reference as written.
	Ref string
}

// Key identifies a container (or an image volume) across a parent and its
// children, and across the old and new versions of an object.
func (i Image) Key() string { return string(i.Section) + "/" + i.Container }

// OwnerReference is a metadata.ownerReferences entry.
type OwnerReference struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	UID        string `json:"uid"`
	Controller *bool  `json:"controller,omitempty"`
}

// Metadata is the part of metadata signet reads.
type Metadata struct {
	Name              string           `json:"name"`
	GenerateName      string           `json:"generateName"`
	Namespace         string           `json:"namespace"`
	UID               string           `json:"uid"`
	DeletionTimestamp *string          `json:"deletionTimestamp"`
	OwnerReferences   []OwnerReference `json:"ownerReferences"`
}

// Controller returns the controlling owner, if any.
func (m Metadata) Controller() *OwnerReference {
	for i := range m.OwnerReferences {
		if c := m.OwnerReferences[i].Controller; c != nil && *c {
			return &m.OwnerReferences[i]
		}
	}
	return nil
}

// Object is a decoded workload.
type Object struct {
	Kind     string
	Metadata Metadata
	Images   []Image
	// PullSecrets are the names of the pod spec's imagePullSecrets.
	PullSecrets []string
	// ServiceAccount is the pod spec's serviceAccountName (or its
	// deprecated alias serviceAccount); empty means "default".
	ServiceAccount string
}

// ErrUnsupportedKind is returned for kinds that carry no PodSpec.
var ErrUnsupportedKind = errors.New("unsupported kind")

// specPaths says where each kind keeps its PodSpec.
var specPaths = map[string][]string{
	"Pod":                   {"spec"},
	"PodTemplate":           {"template", "spec"},
	"Deployment":            {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
}

// Supported reports whether kind carries a PodSpec.
func Supported(kind string) bool { _, ok := specPaths[kind]; return ok }

// Kinds lists the supported kinds.
func Kinds() []string {
	out := make([]string, 0, len(specPaths))
	for k := range specPaths {
		out = append(out, k)
	}
	return out
}

type container struct {
	Name  string  `json:"name"`
	Image *string `json:"image"`
}

// volume is a pod spec volume; only image volumes are read.
type volume struct {
	Index int          `json:"-"` // its position in the pod spec's volumes
	Name  string       `json:"name"`
	Image *volumeImage `json:"image"`
}

// volumeImage is an image volume's source. Decoding one counts an image
// toward MaxImages (decodeLimits).
type volumeImage struct {
	Reference *string `json:"reference"`
}

// podVolumes holds the image volumes of a pod spec. Other volumes are decoded
// one at a time and dropped, so that a Pod of hundreds of thousands of
// empty volumes holds no memory for them while it is decoded; image
// volumes are bounded by MaxImages as they are decoded.
type podVolumes []volume

func (vs *podVolumes) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	tok, err := dec.ReadToken()
	switch {
	case err != nil:
		return err
	case tok.Kind() == 'n':
		*vs = nil
		return nil
	case tok.Kind() != '[':
		return fmt.Errorf("volumes: a JSON %v, want an array", tok.Kind())
	}
	var v volume // reused: a volume that is dropped costs no allocation
	for i := 0; dec.PeekKind() != ']'; i++ {
		v = volume{}
		if err := json.UnmarshalDecode(dec, &v); err != nil {
			return err
		}
		if v.Image != nil {
			v.Index = i
			*vs = append(*vs, v)
		}
	}
	_, err = dec.ReadToken()
	return err
}

type podSpec struct {
	Volumes             podVolumes  `json:"volumes"`
	Containers          []container `json:"containers"`
	InitContainers      []container `json:"initContainers"`
	EphemeralContainers []container `json:"ephemeralContainers"`
	ImagePullSecrets    []struct {
		Name string `json:"name"`
	} `json:"imagePullSecrets"`
	ServiceAccountName string `json:"serviceAccountName"`
	ServiceAccount     string `json:"serviceAccount"`
}

// objectJSON is every shape Decode reads, decoded in one pass: the pod
// spec of a Pod (spec), a PodTemplate (template.spec), the workload
// controllers (spec.template.spec) and a CronJob
// (spec.jobTemplate.spec.template.spec).
type objectJSON struct {
	Metadata *Metadata    `json:"metadata"`
	Spec     *specJSON    `json:"spec"`
	Template *templateRef `json:"template"`
}

type specJSON struct {
	podSpec
	Template    *templateRef `json:"template"`
	JobTemplate *struct {
		Spec *specJSON `json:"spec"`
	} `json:"jobTemplate"`
}

type templateRef struct {
	Spec *podSpec `json:"spec"`
}

// Decode reads an object of the given kind from its JSON. A kind without a
// PodSpec returns ErrUnsupportedKind; an object without a spec (a
// ReplicationController without template, say) has no images.
//
// Field names are matched case-sensitively, as the API server does:
// encoding/json would also accept "Containers", and an object holding both
// spellings must not show signet other images than the kubelet runs. A
// name given twice is an error (encoding/json keeps the last), and so is
// invalid UTF-8: the API server never sends either.
func Decode(kind string, raw []byte) (*Object, error) {
	path, ok := specPaths[kind]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnsupportedKind, kind)
	}
	var o objectJSON
	limits := getLimits()
	err := json.Unmarshal(raw, &o, limits.opts)
	putLimits(limits)
	if err != nil {
		return nil, decodeError(kind, err)
	}
	obj := &Object{Kind: kind}
	if o.Metadata != nil {
		obj.Metadata = *o.Metadata
	}
	var ps *podSpec
	switch {
	case kind == "Pod":
		if o.Spec != nil {
			ps = &o.Spec.podSpec
		}
	case kind == "PodTemplate":
		if o.Template != nil {
			ps = o.Template.Spec
		}
	case kind == "CronJob":
		if o.Spec != nil && o.Spec.JobTemplate != nil && o.Spec.JobTemplate.Spec != nil && o.Spec.JobTemplate.Spec.Template != nil {
			ps = o.Spec.JobTemplate.Spec.Template.Spec
		}
	default:
		if o.Spec != nil && o.Spec.Template != nil {
			ps = o.Spec.Template.Spec
		}
	}
	if ps == nil {
		return obj, nil
	}
	base := "/" + strings.Join(path, "/")
	obj.Images = make([]Image, 0, len(ps.Containers)+len(ps.InitContainers)+len(ps.EphemeralContainers)+len(ps.Volumes))
	obj.Images = append(obj.Images, walk(base, Containers, ps.Containers)...)
	obj.Images = append(obj.Images, walk(base, InitContainers, ps.InitContainers)...)
	obj.Images = append(obj.Images, walk(base, EphemeralContainers, ps.EphemeralContainers)...)
	obj.Images = append(obj.Images, imageVolumes(base, ps.Volumes)...)
	for _, s := range ps.ImagePullSecrets {
		if s.Name != "" {
			obj.PullSecrets = append(obj.PullSecrets, s.Name)
		}
	}
	obj.ServiceAccount = ps.ServiceAccountName
	if obj.ServiceAccount == "" {
		obj.ServiceAccount = ps.ServiceAccount
	}
	if err := checkImages(obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func walk(base string, s Section, cs []container) []Image {
	var out []Image
	for i, c := range cs {
		img := Image{Path: base + "/" + string(s) + "/" + strconv.Itoa(i) + "/image", Section: s, Container: c.Name}
		if c.Image != nil {
			img.Ref = *c.Image
		}
		out = append(out, img)
	}
	return out
}

// imageVolumes reports the volumes with an image source. One whose
// reference is missing is reported with an empty Ref, as a container
// without an image is, so that it is decided (denied as invalid) rather
// than passed over.
func imageVolumes(base string, vs podVolumes) []Image {
	var out []Image
	for _, v := range vs {
		img := Image{Path: base + "/" + string(Volumes) + "/" + strconv.Itoa(v.Index) + "/image/reference", Section: Volumes, Container: v.Name}
		if v.Image.Reference != nil {
			img.Ref = *v.Image.Reference
		}
		out = append(out, img)
	}
	return out
}

package workload

import (
	"errors"
	"fmt"
	"sync"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxImages bounds the images of one object: the containers of every
// section (containers, initContainers, ephemeralContainers) and image
// volumes together. Kubernetes sets no such limit, but a Pod with more than
// a few dozen containers is already unusual; a thousand is far above any
// real workload and keeps one admission's work (decoding, verification,
// the answer and the decision log record) bounded. An object over it is
// not verifiable and is rejected as malformed, whatever the policy's mode.
const MaxImages = 1000

// MaxReferences bounds the ownerReferences and the imagePullSecrets of one
// object, each. Both are lists of a few entries in practice; every pull
// secret named costs a Secret read, and every entry costs memory while the
// object is decoded.
const MaxReferences = 1000

// ErrTooManyImages is returned (wrapped) for an object with more than
// MaxImages images or more than MaxReferences owner references or pull
// secrets.
var ErrTooManyImages = errors.New("over signet's limits")

// decodeLimits counts, while an object is decoded, the list entries signet
// keeps, and stops the decoder at the first one over its limit: an object
// of 7 MiB holds some 400,000 one-line containers or image volumes, which
// would take hundreds of MiB to decode whole. Containers and image volumes
// count together toward MaxImages.
type decodeLimits struct {
	images, owners, secrets int
	opts                    json.Options // the unmarshalers counting into this
}

// limitsPool recycles decodeLimits with their unmarshalers: building them
// (and warming their type cache) for every object cost 16 allocations.
var limitsPool = sync.Pool{New: func() any {
	l := new(decodeLimits)
	l.opts = l.unmarshalers()
	return l
}}

// getLimits returns zeroed counters; putLimits gives them back.
func getLimits() *decodeLimits {
	l := limitsPool.Get().(*decodeLimits)
	l.images, l.owners, l.secrets = 0, 0, 0
	return l
}

func putLimits(l *decodeLimits) { limitsPool.Put(l) }

// imagesWhat names what MaxImages bounds, in errors.
const imagesWhat = "images (containers, initContainers, ephemeralContainers and image volumes together)"

func (l *decodeLimits) unmarshalers() json.Options {
	return json.WithUnmarshalers(json.JoinUnmarshalers(
		json.UnmarshalFromFunc(func(*jsontext.Decoder, *container) error {
			return l.count(&l.images, MaxImages, imagesWhat)
		}),
		json.UnmarshalFromFunc(func(*jsontext.Decoder, *volumeImage) error {
			return l.count(&l.images, MaxImages, imagesWhat)
		}),
		json.UnmarshalFromFunc(func(*jsontext.Decoder, *OwnerReference) error {
			return l.count(&l.owners, MaxReferences, "ownerReferences")
		}),
		// The element type of podSpec.ImagePullSecrets, spelled alike.
		json.UnmarshalFromFunc(func(*jsontext.Decoder, *struct {
			Name string `json:"name"`
		}) error {
			return l.count(&l.secrets, MaxReferences, "imagePullSecrets")
		}),
	))
}

// count counts one entry: errors.ErrUnsupported lets the decoder decode it
// as usual; past max, decoding stops.
func (l *decodeLimits) count(n *int, max int, what string) error {
	if *n++; *n > max {
		return &limitError{what: what, max: max}
	}
	return errors.ErrUnsupported
}

type limitError struct {
	what string
	max  int
}

func (e *limitError) Error() string {
	return fmt.Sprintf("more than %d %s", e.max, e.what)
}

func (e *limitError) Unwrap() error { return ErrTooManyImages }

// decodeError describes a decoding error: one caused by a limit plainly
// (without the decoder's position), any other as it is.
func decodeError(kind string, err error) error {
	if le, ok := errors.AsType[*limitError](err); ok {
		return fmt.Errorf("the %s has %v, %w: an object over them cannot be verified", kind, le, ErrTooManyImages)
	}
	return fmt.Errorf("decoding %s: %w", kind, err)
}

// checkImages checks the number of images found in obj.
func checkImages(obj *Object) error {
	if len(obj.Images) > MaxImages {
		return fmt.Errorf("the %s has %d %s, more than %d, %w: an object over them cannot be verified", obj.Kind, len(obj.Images), imagesWhat, MaxImages, ErrTooManyImages)
	}
	return nil
}

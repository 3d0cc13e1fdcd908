package imageref

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	lru "github.com/hashicorp/golang-lru/v2"
)

// DockerHub is the canonical host of Docker Hub in signet's normalised form.
const DockerHub = "docker.io"

// maxLen bounds the length of a reference signet accepts; the distribution
// spec caps repository names at 255 characters and tags at 128, so anything
// longer is malformed, whatever else it contains.
const maxLen = 512

// Ref is a parsed image reference.
type Ref struct {
	// Original is the reference exactly as given.
	Original string
	// Repository is the repository, usable with go-containerregistry.
	Repository name.Repository
	// Tag is the tag, empty when the reference has none.
	Tag string
	// Digest is "algorithm:hex", empty when the reference has none.
	Digest string
	// registry is the registry's identity (NormaliseHost), name Name(),
	// both computed once by Parse.
	registry, name string
	// norm is String(), computed once by Parse.
	norm string
}

// The OCI distribution spec's grammar for repository paths and tags.
// go-containerregistry's weak validation checks characters only; signet
// also checks structure, so that "a//b" or "-tag" never reach matching.
var (
	pathRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE  = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)
	// hostRE is the grammar's domain[:port]: ASCII labels or a bracketed
	// IPv6 address. go-containerregistry accepts any host without "/",
	// unicode look-alikes ("ghcr.іo" with a Cyrillic і) included, which
	// docker and containerd refuse to pull.
	hostRE = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$`)
)

// ErrInvalid is wrapped by every parse error.
var ErrInvalid = errors.New("invalid image reference")

// parsed memoises successful parses: admission sees the same few hundred
// image strings over and over, and parsing (regular expressions, host
// normalisation) is a visible part of a cached admission's cost. Refs are
// values, so sharing them is safe.
var parsed, _ = lru.New[string, Ref](4096)

// Parse parses s strictly. A reference with neither tag nor digest gets the
// tag "latest", as a container runtime would pull it.
func Parse(s string) (Ref, error) {
	if r, ok := parsed.Get(s); ok {
		return r, nil
	}
	r, err := parse(s)
	if err == nil {
		parsed.Add(s, r)
	}
	return r, err
}

func parse(s string) (Ref, error) {
	if s == "" {
		return Ref{}, fmt.Errorf("%w: empty", ErrInvalid)
	}
	if len(s) > maxLen {
		return Ref{}, fmt.Errorf("%w: longer than %d characters", ErrInvalid, maxLen)
	}
	if strings.TrimSpace(s) != s {
		return Ref{}, fmt.Errorf("%w %q: leading or trailing white space", ErrInvalid, s)
	}
	r := Ref{Original: s}
	rest := s
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		d, err := name.NewDigest(rest)
		if err != nil {
			return Ref{}, fmt.Errorf("%w %q: %v", ErrInvalid, s, err)
		}
		r.Digest = d.DigestStr()
		rest = rest[:i]
	}
	// rest is now name[:tag]. A ':' after the last '/' separates a tag; one
	// before it belongs to a registry port.
	if i := strings.LastIndexByte(rest, ':'); i > strings.LastIndexByte(rest, '/') {
		t, err := name.NewTag(rest)
		if err != nil {
			return Ref{}, fmt.Errorf("%w %q: %v", ErrInvalid, s, err)
		}
		r.Tag = t.TagStr()
		r.Repository = t.Context()
	} else {
		repo, err := name.NewRepository(rest)
		if err != nil {
			return Ref{}, fmt.Errorf("%w %q: %v", ErrInvalid, s, err)
		}
		r.Repository = repo
	}
	host, err := accessHost(r.Repository.RegistryStr())
	if err != nil {
		return Ref{}, fmt.Errorf("%w %q: %v", ErrInvalid, s, err)
	}
	if !pathRE.MatchString(r.Repository.RepositoryStr()) {
		return Ref{}, fmt.Errorf("%w %q: repository path %q does not follow the OCI distribution grammar", ErrInvalid, s, r.Repository.RepositoryStr())
	}
	if r.Tag != "" && !tagRE.MatchString(r.Tag) {
		return Ref{}, fmt.Errorf("%w %q: tag %q does not follow the OCI distribution grammar", ErrInvalid, s, r.Tag)
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = name.DefaultTag
	}
	// Rebuild the repository on the normalised host so that registry access
	// and policy matching can never disagree about which registry is meant:
	// they differ at most by a default port written out, which signet
	// connects to as written. On Docker Hub the rebuilt repository gets its
	// implicit "library/" whatever alias the reference was written with.
	repo, err := name.NewRepository(host + "/" + r.Repository.RepositoryStr())
	if err != nil {
		return Ref{}, fmt.Errorf("%w %q: %v", ErrInvalid, s, err)
	}
	r.Repository = repo
	r.registry = identity(host)
	r.name = r.Name()
	r.norm = r.build()
	return r, nil
}

// Registry returns the registry's identity (NormaliseHost): what policy
// patterns match.
func (r Ref) Registry() string {
	if r.registry != "" {
		return r.registry
	}
	h, err := NormaliseHost(r.Repository.RegistryStr())
	if err != nil {
		return r.Repository.RegistryStr()
	}
	return h
}

// Name returns the normalised repository, registry/path: every spelling a
// container runtime pulls the same repository by has the same Name.
func (r Ref) Name() string {
	if r.name != "" {
		return r.name
	}
	return r.Registry() + "/" + r.Repository.RepositoryStr()
}

// WithoutDigest returns the reference to r's tag alone (tag@digest →
// tag): what the tag names is asked of the registry with it. A reference
// without a tag is returned as is.
func (r Ref) WithoutDigest() Ref {
	if r.Digest == "" || r.Tag == "" {
		return r
	}
	r.Digest, r.Original = "", r.Original[:strings.IndexByte(r.Original, '@')]
	r.norm = r.build()
	return r
}

// String returns the normalised reference: registry/path[:tag][@digest].
func (r Ref) String() string {
	if r.norm != "" {
		return r.norm
	}
	return r.build()
}

// Access returns the reference as signet reads it from the registry: its
// String, but with a default port that was written kept (signet connects
// where the reference says). Answers about a tag are remembered under it.
func (r Ref) Access() string {
	h := r.Repository.RegistryStr()
	if h == r.Registry() || r.Registry() == DockerHub {
		return r.String()
	}
	return h + strings.TrimPrefix(r.String(), r.Registry())
}

func (r Ref) build() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + r.Digest
	}
	return s
}

// Pinned returns registry/path@digest for the given digest.
func (r Ref) Pinned(digest string) string { return r.Name() + "@" + digest }

// PinnedAsWritten returns the reference as originally written with its tag
// and digest replaced by digest ("nginx:1.25" → "nginx@sha256:…"), so a
// pinned manifest keeps its author's spelling of the repository.
func (r Ref) PinnedAsWritten(digest string) string {
	n := r.Original
	if i := strings.IndexByte(n, '@'); i >= 0 {
		n = n[:i]
	}
	if i := strings.LastIndexByte(n, ':'); i > strings.LastIndexByte(n, '/') {
		n = n[:i]
	}
	return n + "@" + digest
}

// DigestRef returns the go-containerregistry reference to repository@digest.
func (r Ref) DigestRef(digest string) (name.Digest, error) {
	return name.NewDigest(r.Repository.Name() + "@" + digest)
}

// TagRef returns the go-containerregistry reference to repository:tag.
func (r Ref) TagRef() (name.Tag, error) {
	return name.NewTag(r.Repository.Name() + ":" + r.Tag)
}

// CheckDigest reports whether d ("algorithm:hex") is a digest a reference
// may carry.
func CheckDigest(d string) error {
	if _, err := name.NewDigest("a@" + d); err != nil {
		return fmt.Errorf("%w: digest %q: %v", ErrInvalid, d, err)
	}
	return nil
}

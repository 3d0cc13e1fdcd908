package check

import (
	"github.com/signet-dev/signet/internal/policy"
)

// Finding is one image reference in an input file.
type Finding struct {
	// File is the path of the file the reference is written in ("-" for
	// standard input). For a Compose service that extends another file's
	// service, it is that other file.
	File string `json:"file"`
	// Line and Column locate the image's value (1-based; Column counts
	// characters, Unicode code points, as the YAML parser does); 0 when
	// unknown.
	Line   int `json:"line,omitempty"`
	Column int `json:"column,omitempty"`
	// Kind, Name and Namespace name the object holding the image: a
	// Kubernetes kind ("Deployment") and metadata, or "Service" and the
	// service name for a Compose file (Namespace empty).
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	// Section and Container locate the container as the webhook does
	// (workload.Section: containers, initContainers, ephemeralContainers,
	// volumes); empty for a Compose service.
	Section   string `json:"section,omitempty"`
	Container string `json:"container,omitempty"`
	// Path is where the image is inside the object: a JSON pointer for a
	// manifest ("/spec/template/spec/containers/0/image"), the key path
	// for a Compose file ("services.web.image").
	Path string `json:"path"`
	// Image is the reference as the workload runs it (for Compose, after
	// interpolation).
	Image string `json:"image"`
	// NoPin, when set, says why --pin leaves this reference as written
	// although the image is checked (a Compose service that is also built
	// from source: a digest in its image: would break docker compose
	// build). File.Rewrite skips such an index.
	NoPin string `json:"noPin,omitempty"`
}

// File is one parsed input file.
type File interface {
	// Name is the file's path as given ("-" for standard input).
	Name() string
	// Findings lists the file's image references in file order.
	Findings() []Finding
	// Rewrite returns the content of every file that changes when the
	// image of Findings()[i] is replaced by refs[i] (indices absent from
	// refs are left as they are), keyed by file path. Everything but the
	// rewritten values is kept byte for byte: comments, key order,
	// quoting, document separators.
	Rewrite(refs map[int]string) (map[string][]byte, error)
}

// Result is the decision on one finding.
type Result struct {
	Finding
	Decision policy.Decision `json:"decision"`
}

// FileError is an input that could not be read or parsed.
type FileError struct {
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	Err  string `json:"error"`
}

// Report is the outcome of signet check.
type Report struct {
	Results []Result    `json:"results"`
	Errors  []FileError `json:"errors,omitempty"`
}

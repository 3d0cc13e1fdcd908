package admission

import (
	"strings"

	"github.com/signet-dev/signet/internal/decisionlog"
)

// maxHintImageBytes bounds the image a denial's hint names: a longer
// reference is left out of the hint (the message already quotes it).
const maxHintImageBytes = 512

// explainHint returns the line a denial's message ends with: the command
// that shows the whole decision on image, the reference as the workload
// wrote it. The reference is the request's: it is named only when it is
// made of the characters a reference may hold, and single-quoted, so that
// neither the message nor a shell it is pasted into reads anything else
// in it (no newline, quote, space, "$" or "`"); otherwise the hint names
// no image.
func explainHint(image string) string {
	if len(image) == 0 || len(image) > maxHintImageBytes || strings.IndexFunc(image, func(r rune) bool { return !refChar(r) }) >= 0 {
		return "; to see the whole decision on an image, run: signet explain IMAGE"
	}
	return "; to see the whole decision, run: signet explain '" + image + "'"
}

// refChar reports whether r may appear in an image reference as written
// (registry host with port or bracketed IPv6 address, path, tag, digest).
func refChar(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("._-/:@[]", r)
}

// withHint bounds msg so that the hint for image, appended, fits in
// MaxMessageBytes: the hint survives however long the message. (Truncate
// says how much it cut in up to truncationNote more bytes.)
func withHint(msg, image string) string {
	h := explainHint(image)
	return decisionlog.Truncate(msg, MaxMessageBytes-len(h)-truncationNote) + h
}

// truncationNote is the most decisionlog.Truncate adds: "…(+N bytes)".
const truncationNote = 32

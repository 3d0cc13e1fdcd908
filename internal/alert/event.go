package alert

import (
	"cmp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/signet-dev/signet/internal/decisionlog"
)

// Event is what happened.
type Event string

// The events a sink can fire on (SinkConfig.Events).
const (
	EventDenied               Event = "denied"
	EventWarned               Event = "warned"
	EventReverificationFailed Event = "reverification-failed"
	EventPolicyReloadFailed   Event = "policy-reload-failed"
	EventRedisBreakerOpen     Event = "redis-breaker-open"
)

// Events lists every event, in documentation order.
var Events = []Event{EventDenied, EventWarned, EventReverificationFailed, EventPolicyReloadFailed, EventRedisBreakerOpen}

func (e Event) bit() uint8 {
	for i, x := range Events {
		if x == e {
			return 1 << i
		}
	}
	return 0
}

// Bounds on what an alert carries from a request: an object may name up
// to 1,000 images and a reason may be long, but an alert keeps only this
// much, so a queued alert holds at most ~16 KiB of strings.
const (
	MaxImages    = 10   // images in an alert; MoreImages counts the rest
	MaxReasons   = 10   // distinct reasons
	MaxString    = 256  // a name, namespace, user, rule or image reference, in bytes
	MaxReason    = 512  // one reason, in bytes
	MaxMessage   = 1024 // Message, in bytes
	maxKeyImages = MaxImages
)

// Image is one image an alert is about.
type Image struct {
	Image   string `json:"image"`
	Digest  string `json:"digest,omitempty"`
	Outcome string `json:"outcome"`
	Rule    string `json:"rule,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// Object is the Kubernetes object an alert is about.
type Object struct {
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
}

// Alert is the object templates see (as `.`) and the generic webhook
// posts as JSON. Strings from a request are bounded and stripped of
// control characters; sinks escape them for their markup.
type Alert struct {
	Event Event `json:"event"`
	// Decision is the admission decision (denied, warned) or, for a
	// re-verification, "failed"; empty for the other events.
	Decision string `json:"decision,omitempty"`
	// Images are the images the alert is about: for a denial those
	// denied, for a warning those warned about (≤ MaxImages).
	Images     []Image `json:"images,omitempty"`
	MoreImages int     `json:"moreImages,omitempty"`
	// Reasons are the images' distinct reasons (≤ MaxReasons).
	Reasons   []string `json:"reasons,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	Object    Object   `json:"object"`
	User      string   `json:"user,omitempty"`
	// DryRun: the request was a dry run (nothing was to be created).
	DryRun bool `json:"dryRun,omitempty"`
	// Rule is the rule of the first image.
	Rule string `json:"rule,omitempty"`
	// Message says what went wrong for policy-reload-failed and
	// redis-breaker-open (an error, URLs redacted).
	Message string `json:"message,omitempty"`
	// Time is the first occurrence, LastTime the last one folded in.
	Time     time.Time `json:"time"`
	LastTime time.Time `json:"lastTime"`
	// Cluster is the file's cluster name.
	Cluster string `json:"cluster,omitempty"`
	// Count is how many occurrences this alert stands for (1 without
	// de-duplication).
	Count int `json:"count"`

	key string // de-duplication key
}

// fromRecord makes the alert of an admission decision, or nil when the
// decision is neither denied nor warned.
func fromRecord(r *decisionlog.Record) *Alert {
	var ev Event
	switch r.Decision {
	case "denied":
		ev = EventDenied
	case "warned":
		ev = EventWarned
	default:
		return nil
	}
	a := &Alert{Event: ev, Decision: r.Decision, Namespace: r.Namespace, Object: Object{Kind: r.Kind, Name: r.Name}, User: r.User, DryRun: r.DryRun, Time: r.Time,
		Images: make([]Image, 0, min(len(r.Images), MaxImages))}
	for i := range r.Images {
		im := &r.Images[i]
		if ev == EventDenied && im.Allowed || ev == EventWarned && im.Outcome == "verified" {
			continue
		}
		a.addImage(Image{Image: im.Image, Digest: im.Digest, Outcome: im.Outcome, Rule: im.Rule, Reason: im.Reason})
	}
	if len(a.Images) == 0 && r.Reason != "" {
		a.Reasons = []string{r.Reason}
	}
	return a
}

func (a *Alert) addImage(im Image) {
	if len(a.Images) >= MaxImages {
		a.MoreImages++
		return
	}
	a.Images = append(a.Images, im)
}

// normalise bounds and cleans every string, fills the defaults and the
// de-duplication key.
func (a *Alert) normalise(cluster string, now time.Time) {
	if a.Time.IsZero() {
		a.Time = now
	}
	if a.LastTime.IsZero() {
		a.LastTime = a.Time
	}
	if a.Count <= 0 {
		a.Count = 1
	}
	a.Cluster = clean(cluster, MaxString)
	a.Namespace = clean(a.Namespace, MaxString)
	a.Object.Kind = clean(a.Object.Kind, MaxString)
	a.Object.Name = clean(a.Object.Name, MaxString)
	a.User = clean(a.User, MaxString)
	a.Message = clean(a.Message, MaxMessage)
	if len(a.Images) > MaxImages {
		a.MoreImages += len(a.Images) - MaxImages
		a.Images = a.Images[:MaxImages]
	}
	for i := range a.Images {
		im := &a.Images[i]
		im.Image = clean(im.Image, MaxString)
		im.Digest = clean(im.Digest, MaxString)
		im.Outcome = clean(im.Outcome, MaxString)
		im.Rule = clean(im.Rule, MaxString)
		im.Reason = clean(im.Reason, MaxReason)
		if im.Reason != "" && len(a.Reasons) < MaxReasons && !slices.Contains(a.Reasons, im.Reason) {
			a.Reasons = append(a.Reasons, im.Reason)
		}
	}
	if len(a.Reasons) > MaxReasons {
		a.Reasons = a.Reasons[:MaxReasons]
	}
	for i, r := range a.Reasons {
		a.Reasons[i] = clean(r, MaxReason)
	}
	if a.Rule == "" && len(a.Images) > 0 {
		a.Rule = a.Images[0].Rule
	}
	a.Rule = clean(a.Rule, MaxString)
	a.key = a.dedupeKey()
}

// dedupeKey is what makes two occurrences one alert: the event, the
// namespace, the images (sorted) and each image's reason class — its
// outcome and rule, not its reason text, which carries digests, times
// and registry messages that differ between occurrences of one problem.
// The object's name is left out on purpose: a ReplicaSet's Pods (or a
// Deployment re-applied by a controller) have new names each time.
// Events without images are keyed on the event and the first line of the
// message.
func (a *Alert) dedupeKey() string {
	var b strings.Builder
	n := len(a.Event) + len(a.Namespace) + len(a.Message) + 2
	for _, im := range a.Images {
		n += len(im.Image) + len(im.Outcome) + len(im.Rule) + 3
	}
	b.Grow(n)
	b.WriteString(string(a.Event))
	b.WriteByte(0)
	b.WriteString(a.Namespace)
	if len(a.Images) == 0 {
		b.WriteByte(0)
		msg, _, _ := strings.Cut(a.Message, "\n")
		b.WriteString(msg)
		return b.String()
	}
	images := a.Images
	if len(images) > 1 {
		images = slices.Clone(images)
		slices.SortFunc(images, func(x, y Image) int {
			return cmp.Or(cmp.Compare(x.Image, y.Image), cmp.Compare(x.Outcome, y.Outcome), cmp.Compare(x.Rule, y.Rule))
		})
	}
	for _, im := range images {
		b.WriteByte(0)
		b.WriteString(im.Image)
		b.WriteByte(1)
		b.WriteString(im.Outcome)
		b.WriteByte(1)
		b.WriteString(im.Rule)
	}
	return b.String()
}

// clean drops control characters (but newlines) and invalid UTF-8, and
// cuts s to at most max bytes on a rune boundary, marking the cut.
func clean(s string, max int) string {
	ok := len(s) <= max
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\n' || c == 0x7f || c >= utf8.RuneSelf {
			ok = false
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			r = '?'
		case r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r)):
			r = ' '
		}
		b.WriteRune(r)
		if b.Len() > max {
			break
		}
	}
	return cut(b.String(), max)
}

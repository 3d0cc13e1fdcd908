package reverify

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
)

// ReasonImageNoLongerTrusted is the reason of the Warning Event recorded
// on a Pod, and on its controlling owner, when an image that passed fails.
const ReasonImageNoLongerTrusted = "ImageNoLongerTrusted"

// EventRecorder records a Warning Event about an object.
type EventRecorder interface {
	Event(ref *corev1.ObjectReference, reason, message string)
}

// eventRecorder records through client-go's broadcaster: Events are sent
// from a bounded queue (dropped when it is full, never blocking a round),
// and its correlator folds repeats into counts and rate-limits each
// object's Events.
type eventRecorder struct {
	rec record.EventRecorder
}

func newEventRecorder(ctx context.Context, cfg *rest.Config, host string) (EventRecorder, error) {
	c, err := typedcorev1.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.Events("")})
	return eventRecorder{rec: b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "signet", Host: host})}, nil
}

func (e eventRecorder) Event(ref *corev1.ObjectReference, reason, message string) {
	e.rec.Event(ref, corev1.EventTypeWarning, reason, message)
}

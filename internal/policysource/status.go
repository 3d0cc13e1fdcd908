package policysource

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"time"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"

	"github.com/signet-dev/signet/internal/policy/v1alpha1"
)

// MaxMessage bounds the Ready condition's message (the API allows 32 KiB):
// the problems past it are cut, with a note saying so.
const MaxMessage = 4 << 10

// status is what the object's status should say.
func (e *entry) status() v1alpha1.Status {
	gen := e.obj.GetGeneration()
	c := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, ObservedGeneration: gen,
		Reason: v1alpha1.ReasonCompiled, Message: "compiled; its rules are in force"}
	if e.problems != "" {
		c.Status, c.Reason = metav1.ConditionFalse, v1alpha1.ReasonInvalid
		kept := "no generation of this object compiled, so it has no rules in force"
		if e.unit != nil {
			kept = fmt.Sprintf("generation %d stays in force", e.unit.Object().Generation)
		}
		c.Message = bound(kept + "; " + e.problems)
	}
	st := v1alpha1.Status{ObservedGeneration: gen, Conditions: []metav1.Condition{c}}
	if e.unit != nil {
		st.Rules = int32(min(e.unit.Rules(), 1<<31-1))
	}
	return st
}

// bound cuts msg to MaxMessage bytes, at a character boundary.
func bound(msg string) string {
	const note = " … (cut; signet policy lint lists every problem)"
	if len(msg) <= MaxMessage {
		return msg
	}
	n := MaxMessage - len(note)
	for n > 0 && !utf8.RuneStart(msg[n]) {
		n--
	}
	return msg[:n] + note
}

// same says whether the status have says what want does (a condition's
// transition time aside).
func same(have, want v1alpha1.Status) bool {
	if have.ObservedGeneration != want.ObservedGeneration || have.Rules != want.Rules || len(have.Conditions) != len(want.Conditions) {
		return false
	}
	for _, w := range want.Conditions {
		h := meta.FindStatusCondition(have.Conditions, w.Type)
		if h == nil {
			return false
		}
		hc, wc := *h, w
		hc.LastTransitionTime, wc.LastTransitionTime = metav1.Time{}, metav1.Time{}
		if !reflect.DeepEqual(hc, wc) {
			return false
		}
	}
	return true
}

// statusOf reads an object's status; a status that does not read is
// rewritten.
func statusOf(obj *unstructured.Unstructured) v1alpha1.Status {
	var st v1alpha1.Status
	if m, ok := obj.Object["status"].(map[string]any); ok {
		_ = runtime.DefaultUnstructuredConverter.FromUnstructured(m, &st)
	}
	return st
}

// statusJob is a status to write: want, for obj as last read.
type statusJob struct {
	obj  *unstructured.Unstructured
	want v1alpha1.Status
}

// writeStatuses writes the statuses the worker computes until ctx is done.
func (s *Source) writeStatuses(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.statusDirty:
		}
		s.statusMu.Lock()
		jobs := s.statuses
		s.statuses = map[key]statusJob{}
		s.statusMu.Unlock()
		for _, j := range jobs {
			if err := s.writeStatus(ctx, j.obj, j.want); err != nil && ctx.Err() == nil {
				s.opts.Log.Warn("writing a policy resource's status", "object", j.obj.GetNamespace()+"/"+j.obj.GetName(), "error", err.Error())
			}
		}
	}
}

// writeStatus writes want as obj's status when obj does not carry it yet,
// through the status subresource; a conflict reads the object again and
// writes only if it is still the same generation and still differs.
func (s *Source) writeStatus(ctx context.Context, obj *unstructured.Unstructured, want v1alpha1.Status) error {
	if same(statusOf(obj), want) {
		return nil
	}
	ri := s.resource(obj)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	first := true
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if !first {
			fresh, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
			if err != nil {
				return err
			}
			if fresh.GetUID() != obj.GetUID() || fresh.GetGeneration() != obj.GetGeneration() || same(statusOf(fresh), want) {
				return nil // a newer event will say what to write, or another replica wrote it
			}
			obj = fresh
		}
		first = false
		have := statusOf(obj)
		st := want
		st.Conditions = slices.Clone(want.Conditions)
		// Keep the transition time of a condition whose status did not change.
		for i, w := range st.Conditions {
			if h := meta.FindStatusCondition(have.Conditions, w.Type); h != nil && h.Status == w.Status {
				st.Conditions[i].LastTransitionTime = h.LastTransitionTime
			} else {
				st.Conditions[i].LastTransitionTime = metav1.NewTime(time.Now().Truncate(time.Second))
			}
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
		if err != nil {
			return err
		}
		c := obj.DeepCopy()
		c.Object["status"] = m
		_, err = ri.UpdateStatus(ctx, c, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil // deleted meanwhile
		}
		return err
	})
}

// resource is the client of obj's kind (and namespace).
func (s *Source) resource(obj *unstructured.Unstructured) dynamic.ResourceInterface {
	if obj.GetNamespace() != "" {
		return s.client.Resource(v1alpha1.ImagePolicies).Namespace(obj.GetNamespace())
	}
	return s.client.Resource(v1alpha1.ClusterImagePolicies)
}

// Package reverify keeps checking the images of workloads that already
// run. Admission is one moment: afterwards a signature is deleted, a key
// is rotated in its Secret or KMS, a policy is tightened. The re-verifier
// watches Pods and the workload objects that make them (informers that
// keep each object's identity, owners and image references only), and
// evaluates every distinct image in use through the engine in force, with
// the registry credentials its workload would pull with:
//
//   - on a schedule (Options.Interval, jittered), bypassing cached verified
//     results older than the interval;
//   - at once when the policy changes or a key source changes (Trigger);
//
// at most Options.Concurrency evaluations at a time. Only the replica that
// holds a coordination.k8s.io Lease does this work (client-go's
// leaderelection); the others watch nothing.
//
// Results go to a Reporter (package reverify/report writes PolicyReports),
// to Events (reason ImageNoLongerTrusted) on a Pod and its controlling
// owner when an image that was passing fails, to metrics, to the decision
// sink (the audit log) and to alerts; with ActionEvict, Pods whose images
// failed are evicted through the Eviction API, rate-limited, never in an
// excluded namespace. A failure also removes the image's cached verified
// result, so a new Pod of the same owner is verified on its own and
// denied.
package reverify

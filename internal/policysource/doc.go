// Package policysource keeps the policy engine of signet serve
// --policy-source=cluster: it watches the ClusterImagePolicy and
// ImagePolicy resources (signet.dev/v1alpha1) with client-go informers
// over the dynamic client, and serves an immutable *policy.Engine
// assembled from them.
//
// The contract:
//
//   - No engine before the informers have synced: Engine returns nil and
//     Synced false until every object in the API was read once. The
//     webhook is then not ready and denies every admission it is asked
//     (package admission); it never allows for want of a policy.
//   - Each object is compiled on its own (policy.CompileUnit) when its
//     metadata.generation changes. An update that does not compile leaves
//     the object's last valid unit in force (its status says why); a new
//     object that never compiled has no rules. A deleted object's rules
//     leave at once: images only it covered are then denied (fail closed).
//     An object recreated under the same name is a new object: the last
//     valid form of the one deleted is not kept for it.
//   - Every change assembles a new engine (policy.Assemble) from the units
//     in force and the policy file's unit, if any (SetFile: a file is one
//     more ClusterImagePolicy, named "file:<path>"). Changes arriving
//     within Debounce of each other cost one assembly; a change is in
//     force Debounce plus one compilation after the informer hears of it,
//     well within the 2 seconds docs/policy.md promises.
//   - Every engine put in force is stamped (policy.Engine.Stamped) with a
//     generation counting the engines this process put in force and a hash
//     of the objects and generations it holds, alike on every replica; the
//     generation is signet_policy_generation and the decision log's
//     policyGeneration.
//   - Status (status.observedGeneration, the Ready condition with reason
//     Compiled or Invalid and the problems' field paths as the message, at
//     most MaxMessage bytes, status.rules: the rules in force for the
//     object) is written through the status subresource only when it
//     differs from what the object carries, conflicts retried; every
//     replica computes the same status, so the replicas' writes converge
//     after one.
//
// Bounds: the informers' caches hold each object without its
// managedFields and last-applied annotation; the units hold the compiled
// rules. TestMemory measures the whole for 1,000 objects of 10 rules
// each (docs/install.md has the figure). How many objects exist is the API
// server's to bound (RBAC on who may create ImagePolicies, ResourceQuota
// count/imagepolicies.signet.dev); one decision reads at most
// policy.MaxNamespaceRules rules of a namespace.
//
// It uses client-go's tools/cache informers directly, not
// dynamicinformer, whose factory imports the typed clientset
// (cmd/signet/deps_test.go keeps that out of the binary), and no
// controller-runtime.
package policysource

// Package policy turns an ImagePolicy document into an immutable Engine.
//
// The life of a policy has three steps, each a function:
//
//	doc, err := policy.Parse(yamlBytes) // decode strictly; every problem with its field path
//	eng, err := policy.Compile(doc, reg) // bind keys, patterns and quorums; build verifiers
//	dec := eng.Evaluate(ctx, "nginx:1.25") // match, resolve, verify, decide
//
// Everything that can be wrong with a policy is found by Parse or Compile, so
// a bad policy fails at load time, never at admission time. An Engine is
// never modified after Compile; reloading a policy means compiling a new one
// and swapping the pointer.
//
// Rules match the normalised image reference (see package imageref) with
// glob patterns anchored at both ends: "*" and "?" stay within one path
// component, "**" crosses components. The most specific matching pattern
// wins, whatever the order of rules; an image no rule matches is denied.
//
// The policy as Kubernetes resources is a set of documents: CompileSet
// (or CompileUnit per object, then Assemble) compiles the
// ClusterImagePolicies and the namespaced ImagePolicies into one Engine,
// and EvaluateFor decides for a workload's namespace (docs/policy.md,
// "How they combine"). A policy file is one ClusterImagePolicy: Compile
// and Evaluate.
package policy

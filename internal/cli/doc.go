// Package cli implements the signet command line: one file per verb. It is
// an edge: it parses flags, calls the policy engine and maps outcomes to
// output and exit codes. Nothing below it knows about exit codes.
//
// Exit codes (documented in docs/cli.md):
//
//	0  every image allowed
//	1  at least one image denied
//	2  usage error or invalid policy
//	3  at least one image inconclusive (registry unreachable, timeout) and none denied
package cli

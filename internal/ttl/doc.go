// Package ttl keeps what is expensive to get for a while, bounded:
//
//   - Cache, a map of at most a fixed number of entries (least recently
//     used first out) whose entries go stale a TTL after they were added.
//     Stale entries can still be read (Peek) by callers that revalidate
//     them, such as a keychain kept while the Secrets it was built from are
//     unchanged. It takes a clock, so tests can age entries; unlike
//     golang-lru's expirable.LRU it starts no goroutine and lets stale
//     entries be revalidated.
//   - Lazy, one value resolved on first use, in the background: concurrent
//     callers share one resolution, each waits no longer than its own
//     context allows while the resolution goes on and serves later calls; a
//     value is resolved again after a refresh interval (sooner when it
//     carries its own expiry: at half its remaining validity), may be served
//     while a refresh fails up to a maximum age, and a failure is remembered
//     briefly so that an unreachable source costs callers an immediate
//     answer, not a wait each. Refresh resolves it at once (a key known
//     to have rotated), Set puts in a value resolved elsewhere.
//
// Bounds: a Cache holds at most its size; a Lazy runs at most one
// background resolution at a time (one goroutine), besides those its
// Refresh callers run in their own goroutines, each bounded by its timeout.
package ttl

//go:build race

package registry_test

// raceEnabled: the race detector changes what the heap holds and makes
// heap tests slow; they skip.
const raceEnabled = true

package cli_test

import (
	"path/filepath"
	"testing"
)

func TestServeReverifyUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	checkServeUsage(t, dir, filepath.Join(dir, "policy.yaml"), []usageCase{
		{[]string{"--reverify-action", "delete"}, `--reverify-action: want report or evict, got "delete"`},
		{[]string{"--reverify-interval", "-1s"}, "--reverify-interval: must not be negative"},
		{[]string{"--reverify-concurrency", "0"}, "--reverify-concurrency: want 1 to 256"},
		{[]string{"--reverify-concurrency", "1000"}, "--reverify-concurrency: want 1 to 256"},
		{[]string{"--reverify-evictions-per-minute", "0"}, "--reverify-evictions-per-minute: want 1 to 6000"},
		{[]string{"--key-check-interval", "-5s"}, "--key-check-interval: must not be negative"},
		{[]string{"--reverify-lease", ""}, "--reverify-lease: must not be empty"},
	})
}

package keysource

import (
	"context"
	"time"
)

// WithWait replaces the pause between Watch's calls (tests).
func WithWait(o WatchOptions, wait func(ctx context.Context, d time.Duration) bool) WatchOptions {
	o.wait = wait
	return o
}

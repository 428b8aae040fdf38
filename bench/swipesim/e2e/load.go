package e2e

import (
	"context"
	"fmt"
	"time"

	benchfeed "github.com/reelay/reelay/bench/feed"
)

// loadForYou sends GET /v1/feed/foryou (the first page, limit items) at rate per second for d,
// as the tokens' users in turn, in an open loop (benchfeed.Load).
func loadForYou(ctx context.Context, c *client, tokens []string, rate, limit int, d time.Duration) benchfeed.LoadResult {
	return benchfeed.Load(ctx, c.http, fmt.Sprintf("%s/v1/feed/foryou?limit=%d", c.api, limit), tokens, rate, d)
}

// sleepUntil waits until t or ctx's end, and reports whether t came first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

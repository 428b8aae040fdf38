package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/reelay/reelay/feed"
)

// probeTimeout is how long a feedback probe waits for the page to change; a probe that waits
// it out counts as this long.
const probeTimeout = 5 * time.Second

// probePoll is how often a probe asks For You again.
const probePoll = 10 * time.Millisecond

// feedback measures feedback-to-ranking latency once, as the prober token's user: it reads
// the first For You page, marks its first video not interested, and asks for the first page
// again until none of that video's creator's videos is on it. It returns the time from the
// event's post to the first changed page, and whether the page changed before probeTimeout.
// The first page and the last count towards the creator adjacencies (the ones between are
// the same page served again).
func (e *runEnv) feedback(ctx context.Context, token string) (time.Duration, bool, error) {
	pg, err := e.client.forYou(ctx, token, "", e.opts.PageSize)
	if err != nil {
		return 0, false, err
	}
	e.notePage(pg)
	if len(pg.Items) == 0 {
		return 0, false, fmt.Errorf("e2e: a prober's For You page is empty")
	}
	it := pg.Items[0]
	begin := time.Now()
	if err := e.client.events(ctx, token, newEvent(it.ID, feed.EventNotInterested, 0, 0)); err != nil {
		return 0, false, err
	}
	for {
		pg, err := e.client.forYou(ctx, token, "", e.opts.PageSize)
		if err != nil {
			return 0, false, err
		}
		if !slices.ContainsFunc(pg.Items, func(x feed.Item) bool { return x.Creator.Handle == it.Creator.Handle }) {
			e.notePage(pg)
			return time.Since(begin), true, nil
		}
		if time.Since(begin) > probeTimeout {
			e.notePage(pg)
			return probeTimeout, false, nil
		}
		if !sleepUntil(ctx, time.Now().Add(probePoll)) {
			return 0, false, ctx.Err()
		}
	}
}

// notePage counts a page that no player watches towards the creator adjacencies.
func (e *runEnv) notePage(pg page) {
	creators := make([]string, len(pg.Items))
	for i, it := range pg.Items {
		creators[i] = it.Creator.Handle
	}
	e.rec.page(len(pg.Items), adjacencies("", creators))
}

// probes runs one feedback probe per prober, the i-th of n started at (i+1)/(n+1) of the run
// (which ends at ctx's deadline), each on its own and waited for until it ends, even past
// the run's end (at most probeTimeout later). It returns their latencies (timed-out ones
// at probeTimeout) and how many timed out.
func (e *runEnv) probes(ctx, run context.Context, d time.Duration) ([]time.Duration, int) {
	var (
		mu       sync.Mutex
		lat      []time.Duration
		timeouts int
		wg       sync.WaitGroup
	)
	n := len(e.accounts.probers)
	for i, id := range e.accounts.probers {
		at := e.began.Add(time.Duration(i+1) * d / time.Duration(n+1))
		wg.Go(func() {
			if !sleepUntil(run, at) {
				return
			}
			l, ok, err := e.feedback(ctx, e.accounts.tokens[id])
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				e.rec.fail(err)
			case !ok:
				timeouts++
				fallthrough
			default:
				lat = append(lat, l)
			}
		})
	}
	wg.Wait()
	return lat, timeouts
}

package feed

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// LoadResult is what an open-loop load measured.
type LoadResult struct {
	Sent, Errors  int
	FirstErr      string        // the first error, "" for none
	P50, P99, Max time.Duration // latencies from when each request was due (nearest rank)
	RPS           float64       // answered requests a second, from the first send to the last answer
}

// Load sends GET url with hc at rate requests a second for d, or until ctx ends, each request
// with the bearer token of one of tokens in turn and on its own goroutine when it is due (an
// open loop: a slow server does not slow the sender), and measures each latency from when
// the request was due, so that a server that falls behind shows it. A request is an error
// unless it is answered 200 and its body read whole.
func Load(ctx context.Context, hc *http.Client, url string, tokens []string, rate int, d time.Duration) LoadResult {
	n := max(1, int(d.Seconds()*float64(rate)))
	lat := make([]time.Duration, n)
	var (
		mu  sync.Mutex
		res = LoadResult{Sent: n}
		wg  sync.WaitGroup
		end time.Time
	)
	begin := time.Now()
	for i := range n {
		due := begin.Add(time.Duration(i) * time.Second / time.Duration(rate))
		if wait := time.Until(due); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		if ctx.Err() != nil {
			res.Sent = i
			break
		}
		wg.Go(func() {
			err := get(ctx, hc, url, tokens[i%len(tokens)])
			lat[i] = time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if now := time.Now(); now.After(end) {
				end = now
			}
			if err != nil {
				if res.Errors++; res.FirstErr == "" {
					res.FirstErr = err.Error()
				}
			}
		})
	}
	wg.Wait()
	lat = lat[:res.Sent]
	slices.Sort(lat)
	res.P50, res.P99 = nearestRank(lat, 50), nearestRank(lat, 99)
	if len(lat) > 0 {
		res.Max = lat[len(lat)-1]
	}
	if el := end.Sub(begin); el > 0 {
		res.RPS = float64(res.Sent-res.Errors) / el.Seconds()
	}
	return res
}

// nearestRank is the p-th percentile of the sorted durations s, 0 for none.
func nearestRank(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// get sends GET url with token and reads the answer, an error unless it is 200.
func get(ctx context.Context, hc *http.Client, url, token string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return nil
}

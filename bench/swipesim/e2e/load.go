package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// loadResult is what an open-loop load of For You measured.
type loadResult struct {
	sent, errors int
	firstErr     string
	p50, p99     time.Duration
	rps          float64 // answered requests per second, from the first send to the last answer
}

// loadForYou sends GET /v1/feed/foryou (the first page, limit items) at rate per second for d,
// as the tokens' users in turn, each request on its own goroutine when it is due (an open
// loop: a slow server does not slow the sender), and measures each latency from when the
// request was due.
func loadForYou(ctx context.Context, c *client, tokens []string, rate, limit int, d time.Duration) loadResult {
	n := max(1, int(d.Seconds()*float64(rate)))
	lat := make([]time.Duration, n)
	var (
		mu  sync.Mutex
		res = loadResult{sent: n}
		wg  sync.WaitGroup
		end time.Time
	)
	url := fmt.Sprintf("%s/v1/feed/foryou?limit=%d", c.api, limit)
	begin := time.Now()
	for i := range n {
		due := begin.Add(time.Duration(i) * time.Second / time.Duration(rate))
		if !sleepUntil(ctx, due) {
			res.sent = i
			break
		}
		wg.Go(func() {
			err := get(ctx, c.http, url, tokens[i%len(tokens)])
			lat[i] = time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if now := time.Now(); now.After(end) {
				end = now
			}
			if err != nil {
				if res.errors++; res.firstErr == "" {
					res.firstErr = err.Error()
				}
			}
		})
	}
	wg.Wait()
	lat = lat[:res.sent]
	res.p50, res.p99 = percentile(lat, 50), percentile(lat, 99)
	if el := end.Sub(begin); el > 0 {
		res.rps = float64(res.sent-res.errors) / el.Seconds()
	}
	return res
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

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/reelay/reelay/feed"
)

// client speaks to the system under test as the app does: the feed's JSON API with a user's
// bearer token, and HLS from an edge.
type client struct {
	http *http.Client
	api  string // the API's base URL
}

func newClient(api string, conns int) *client {
	tr := &http.Transport{MaxIdleConns: 4 * conns, MaxIdleConnsPerHost: 2 * conns, IdleConnTimeout: time.Minute}
	return &client{http: &http.Client{Transport: tr, Timeout: 30 * time.Second}, api: api}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// page is a For You page as the API answers it.
type page struct {
	Items      []feed.Item `json:"items"`
	NextCursor string      `json:"next_cursor"`
}

// forYou gets a For You page of limit items as token's user, after cursor ("" for the first).
func (c *client) forYou(ctx context.Context, token, cursor string, limit int) (page, error) {
	q := url.Values{"limit": {fmt.Sprint(limit)}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	var p page
	err := c.do(ctx, http.MethodGet, "/v1/feed/foryou?"+q.Encode(), token, nil, http.StatusOK, &p)
	return p, err
}

// event is one event of POST /v1/events.
type event struct {
	Video    string         `json:"video"`
	Type     feed.EventType `json:"type"`
	WatchMS  int64          `json:"watch_ms,omitempty"`
	Position int            `json:"position"`
	At       string         `json:"at"`
}

func newEvent(video string, typ feed.EventType, position int, watchMS int64) event {
	return event{Video: video, Type: typ, Position: position, WatchMS: watchMS, At: time.Now().UTC().Format(time.RFC3339Nano)}
}

// events posts a batch of events as token's user.
func (c *client) events(ctx context.Context, token string, evs ...event) error {
	body, _ := json.Marshal(map[string]any{"events": evs})
	return c.do(ctx, http.MethodPost, "/v1/events", token, body, http.StatusAccepted, nil)
}

// follow makes token's user follow the user handle.
func (c *client) follow(ctx context.Context, token, handle string) error {
	return c.do(ctx, http.MethodPut, "/v1/users/"+handle+"/follow", token, nil, http.StatusOK, nil)
}

// do sends a request to the API and decodes the answer into out, unless it is not want.
func (c *client) do(ctx context.Context, method, path, token string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.api+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

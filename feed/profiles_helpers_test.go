package feed

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/reelay/reelay/storage"
)

// storeOfRun is the Config.Store of forEachWithStore: each database's run gets a store of
// its own.
type storeOfRun struct{ storage.Store }

// purges records the videos that Config.Purge was asked to purge.
type purges struct {
	mu  sync.Mutex
	ids []string
}

func (p *purges) purge(_ context.Context, id string) error {
	p.mu.Lock()
	p.ids = append(p.ids, id)
	p.mu.Unlock()
	return nil
}

// count returns how many times id was purged.
func (p *purges) count(id string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, x := range p.ids {
		if x == id {
			n++
		}
	}
	return n
}

// forEachWithStore is forEachService with a directory store (a fresh one for each database)
// as Config.Store, and a recorder of purges as Config.Purge.
func forEachWithStore(t *testing.T, cfg Config, fn func(t *testing.T, s *Service, api *client, store storage.Store, purged *purges)) {
	st := &storeOfRun{}
	p := &purges{}
	cfg.Store, cfg.Purge = st, p.purge
	forEachService(t, cfg, func(t *testing.T, s *Service, api *client) {
		fs, err := storage.NewFS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		st.Store = fs
		p.mu.Lock()
		p.ids = nil
		p.mu.Unlock()
		fn(t, s, api, fs, p)
	})
}

// signUp registers handle and logs it in: its token and user id.
func (c *client) signUp(handle string) (token string, id int64) {
	c.t.Helper()
	r := c.do("POST", "/v1/users", "", `{"handle":"`+handle+`","password":"correct horse"}`)
	if r.status != 201 {
		c.t.Fatalf("register %s: %d %v", handle, r.status, r.body)
	}
	return c.login(handle, "correct horse"), int64(r.body["id"].(float64))
}

// raw sends body with its Content-Type and the given headers, and returns the answer as is.
func (c *client) raw(method, path, token, contentType string, body []byte, header map[string]string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, b
}

// jsonBody decodes b into v, unless b is empty.
func jsonBody(b []byte, v any) error {
	if len(b) == 0 {
		return nil
	}
	return json.Unmarshal(b, v)
}

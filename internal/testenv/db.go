package testenv

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// ForEachDSN runs fn as two subtests: "sqlite", on a fresh SQLite file, and "postgres", on a
// fresh PostgreSQL database (see Postgres).
func ForEachDSN(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, "sqlite:"+filepath.Join(t.TempDir(), "reelay.db")) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// Clock is a clock for tests: it stands still until the test moves it. Its zero value is not
// usable; NewClock starts one.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock standing at a fixed instant, 2030-01-02 03:04:05 UTC.
func NewClock() *Clock { return &Clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

package ratelimit

import (
	"sync"
	"time"
)

// Backoff slows down the failures of each key, such as the failed logins of a handle or of a
// client address: a key may fail Free times at once, and then each further attempt waits
// after the last one a delay that doubles with every failure, from Delay up to MaxDelay.
// Unlike a lock, the key is never shut out for longer than MaxDelay, and unlike a token
// bucket, the wait grows with the guessing. A key that has made no attempt for Forget starts
// afresh.
//
// An attempt counts as a failure from the moment it is allowed (Attempt), so that concurrent
// attempts cannot all slip through before the first of them has failed; one that turns out
// not to have failed is given back (Refund), or clears the key (Reset).
type Backoff struct {
	cfg BackoffConfig

	mu    sync.Mutex
	keys  map[string]*failures
	swept time.Time
}

// BackoffConfig configures a Backoff.
type BackoffConfig struct {
	// Free is how many failures a key may have before its attempts wait. Default 5.
	Free int
	// Delay is the wait after failure Free + 1 (after the last attempt); it doubles with each
	// further failure. Default 1s.
	Delay time.Duration
	// MaxDelay bounds the wait. Default 15m.
	MaxDelay time.Duration
	// Forget is how long a key must make no attempt before its failures are forgotten; at
	// least MaxDelay. Default 1h.
	Forget time.Duration
	// Now tells the time. Default time.Now.
	Now func() time.Time
}

type failures struct {
	n    int       // failures counted, including attempts under way
	last time.Time // of the last attempt allowed
}

// NewBackoff returns a Backoff with cfg's defaults filled in.
func NewBackoff(cfg BackoffConfig) *Backoff {
	if cfg.Free <= 0 {
		cfg.Free = 5
	}
	if cfg.Delay <= 0 {
		cfg.Delay = time.Second
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = 15 * time.Minute
	}
	cfg.MaxDelay = max(cfg.MaxDelay, cfg.Delay)
	if cfg.Forget <= 0 {
		cfg.Forget = time.Hour
	}
	cfg.Forget = max(cfg.Forget, cfg.MaxDelay)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Backoff{cfg: cfg, keys: map[string]*failures{}}
}

// Attempt asks whether key may make an attempt now. If so it returns 0 and counts the attempt
// as a failure until Refund or Reset; if not, it returns how long until the key may try
// again, and counts nothing.
func (b *Backoff) Attempt(key string) (wait time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.cfg.Now()
	b.sweep(now)
	f := b.keys[key]
	if f == nil || now.Sub(f.last) >= b.cfg.Forget {
		f = &failures{}
		b.keys[key] = f
	}
	if wait := f.last.Add(b.delay(f.n)).Sub(now); wait > 0 {
		return wait
	}
	f.n++
	f.last = now
	return 0
}

// delay is how long a key with n failures waits after its last attempt.
func (b *Backoff) delay(n int) time.Duration {
	if n < b.cfg.Free {
		return 0
	}
	d := b.cfg.Delay
	for i := b.cfg.Free; i < n && d < b.cfg.MaxDelay; i++ {
		d *= 2
	}
	return min(d, b.cfg.MaxDelay)
}

// Refund gives back one attempt of key that Attempt allowed and that did not fail.
func (b *Backoff) Refund(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if f := b.keys[key]; f != nil {
		if f.n--; f.n <= 0 {
			delete(b.keys, key)
		}
	}
}

// Reset forgets the failures of key, such as a handle's once its password has been given.
func (b *Backoff) Reset(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.keys, key)
}

// sweep forgets the keys past Forget, at most once a minute, so that memory stays bounded
// by the keys that failed recently.
func (b *Backoff) sweep(now time.Time) {
	if now.Sub(b.swept) < time.Minute {
		return
	}
	b.swept = now
	for k, f := range b.keys {
		if now.Sub(f.last) >= b.cfg.Forget {
			delete(b.keys, k)
		}
	}
}

// Len is the number of keys currently tracked.
func (b *Backoff) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.keys)
}

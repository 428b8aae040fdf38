package ingest

import (
	"context"
	"sync"
)

// locks serialises the requests on one upload within this process. Its zero value is ready;
// an upload's entry exists only while someone holds or waits for its lock.
type locks struct {
	mu sync.Mutex
	m  map[string]*lockEntry
}

type lockEntry struct {
	sem  chan struct{} // holds one token while locked
	refs int           // holders and waiters
}

// lock waits until it holds upload id's lock or ctx is done. The returned unlock must be
// called exactly once.
func (l *locks) lock(ctx context.Context, id string) (unlock func(), err error) {
	e := l.acquire(id)
	select {
	case e.sem <- struct{}{}:
		return func() { <-e.sem; l.release(id, e) }, nil
	case <-ctx.Done():
		l.release(id, e)
		return nil, ctx.Err()
	}
}

// tryLock takes upload id's lock if it is free.
func (l *locks) tryLock(id string) (unlock func(), ok bool) {
	e := l.acquire(id)
	select {
	case e.sem <- struct{}{}:
		return func() { <-e.sem; l.release(id, e) }, true
	default:
		l.release(id, e)
		return nil, false
	}
}

func (l *locks) acquire(id string) *lockEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*lockEntry{}
	}
	e := l.m[id]
	if e == nil {
		e = &lockEntry{sem: make(chan struct{}, 1)}
		l.m[id] = e
	}
	e.refs++
	return e
}

func (l *locks) release(id string, e *lockEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.refs--; e.refs == 0 {
		delete(l.m, id)
	}
}

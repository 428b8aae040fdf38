package db

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifyChannel is the PostgreSQL channel on which Enqueue announces a job that is claimable
// now; the payload is the job's kind.
const notifyChannel = "reelay_jobs"

// listenerName is the application_name of the listener's connection (unless the DSN sets one),
// so that operators can tell it apart in pg_stat_activity.
const listenerName = "reelay job listener"

const (
	// listenBackoffMin and listenBackoffMax bound the listener's wait before it reconnects; the
	// wait doubles with each failed attempt in a row.
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 30 * time.Second
	// listenIdle is how long the listener waits for a notification before it pings its
	// connection, so that a connection that died without a word is noticed.
	listenIdle = time.Minute
	// listenTimeout bounds connecting and LISTEN, and each ping.
	listenTimeout = 10 * time.Second
)

// notifier wakes the goroutines that wait for jobs of a kind (Enqueued): at once for jobs
// enqueued through this DB, and on PostgreSQL through a listener for jobs enqueued by any
// process on the same database.
type notifier struct {
	pgConfig *pgx.ConnConfig // PostgreSQL: where the listener connects; nil on SQLite

	mu      sync.Mutex
	waiting map[string]chan struct{} // by kind: closed at the next wake-up
	stop    context.CancelFunc       // stops the listener; nil until it starts
	stopped chan struct{}            // closed when the listener has stopped
	closed  bool                     // Close was called: the listener does not start
}

// Enqueued returns a channel that is closed the next time a job of this kind becomes claimable
// through Enqueue: in this process, or on PostgreSQL in any process using the same database.
//
// Take the channel before Claim and wait on it only when Claim found nothing, so that a job
// enqueued between the two is not missed. A closed channel means "Claim again", not that a job
// is certainly there: another worker may have taken it, and the channel is also closed when
// notifications may have been lost (the listener has just connected or reconnected). A job that
// becomes due later (a RunAt in the future, a retry after Fail, an expired lease) closes
// nothing, and neither does a job enqueued while PostgreSQL's listener is down: wait on the
// channel together with a poll timer.
//
// On PostgreSQL the first call starts the listener on a connection of its own; Close stops it.
func (d *DB) Enqueued(kind string) <-chan struct{} {
	n := &d.notify
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.pgConfig != nil && n.stop == nil && !n.closed {
		ctx, stop := context.WithCancel(context.Background())
		n.stop, n.stopped = stop, make(chan struct{})
		go d.listen(ctx, n.stopped)
	}
	ch, ok := n.waiting[kind]
	if !ok {
		if n.waiting == nil {
			n.waiting = make(map[string]chan struct{})
		}
		ch = make(chan struct{})
		n.waiting[kind] = ch
	}
	return ch
}

// announce tells other processes, from inside the transaction that adds a claimable job of
// kind, that it is there: PostgreSQL delivers the notification when tx commits. On SQLite it
// does nothing; wake covers the one process.
func (d *DB) announce(ctx context.Context, tx *sql.Tx, kind string) error {
	if d.dialect != DialectPostgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, notifyChannel, kind); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// wake closes the channel of the goroutines waiting for a job of kind.
func (d *DB) wake(kind string) {
	n := &d.notify
	n.mu.Lock()
	defer n.mu.Unlock()
	if ch, ok := n.waiting[kind]; ok {
		close(ch)
		delete(n.waiting, kind)
	}
}

// wakeAll closes the channel of every waiting goroutine, whatever the kind.
func (d *DB) wakeAll() {
	n := &d.notify
	n.mu.Lock()
	defer n.mu.Unlock()
	for kind, ch := range n.waiting {
		close(ch)
		delete(n.waiting, kind)
	}
}

// stopListening stops the listener, if it runs, waits until it has closed its connection, and
// keeps it from starting again. Waiters are left alone: they go on until their poll timer.
func (d *DB) stopListening() {
	n := &d.notify
	n.mu.Lock()
	n.closed = true
	stop, stopped := n.stop, n.stopped
	n.mu.Unlock()
	if stop != nil {
		stop()
		<-stopped
	}
}

// listen runs the PostgreSQL listener until ctx is done, reconnecting with backoff when its
// connection fails, and closes stopped when it returns.
func (d *DB) listen(ctx context.Context, stopped chan<- struct{}) {
	defer close(stopped)
	cfg := d.notify.pgConfig.Copy()
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = listenerName
	}
	backoff, failing := listenBackoffMin, false
	for {
		listened, err := d.listenOnce(ctx, cfg, failing)
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = listenBackoffMin
		}
		failing = true
		d.log.Warn("db: job notifications interrupted; waiting workers poll until the listener is back",
			"err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
}

// listenOnce connects, listens on notifyChannel and wakes the waiters of each notification's
// kind until the connection fails or ctx is done. Once it listens it wakes every waiter:
// notifications sent before then were lost. listened reports that LISTEN succeeded; resumed
// says that the listener had failed before, to log its recovery.
func (d *DB) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, resumed bool) (listened bool, err error) {
	cctx, cancel := context.WithTimeout(ctx, listenTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cfg)
	if err != nil {
		return false, fmt.Errorf("listener: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(cctx, "LISTEN "+notifyChannel); err != nil {
		return false, fmt.Errorf("listener: %w", err)
	}
	cancel()
	if resumed {
		d.log.Info("db: job notifications resumed")
	}
	d.wakeAll()

	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := conn.WaitForNotification(wctx)
		idle := wctx.Err() != nil
		cancel()
		switch {
		case ctx.Err() != nil:
			return true, ctx.Err()
		case err == nil:
			d.wake(n.Payload)
		case !idle || conn.IsClosed():
			return true, fmt.Errorf("listener: %w", err)
		default: // nothing for a while: check that the connection still answers
			pctx, cancel := context.WithTimeout(ctx, listenTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return true, fmt.Errorf("listener: %w", err)
			}
		}
	}
}

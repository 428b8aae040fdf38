// Package db is reelay's metadata database: what every tier shares of it. It opens SQLite (one
// machine, `reelay up`) or PostgreSQL (several machines), applies the versioned schema
// (migrations/), and runs the job queue (queue.go). Each tier's own queries live with the tier
// (the accounts in feed, the uploads in ingest, the videos in pipeline and feed), written once
// for both dialects with the helpers here: every query uses $1, $2 placeholders, which both
// drivers accept, and every time is stored as BIGINT unix milliseconds (UTC, see Millis).
package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialects returned by (*DB).Dialect.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Errors returned by this package and by the tiers' queries; match them with errors.Is.
var (
	// ErrNotFound: no row matches.
	ErrNotFound = errors.New("db: not found")
	// ErrDuplicate: a unique key is taken.
	ErrDuplicate = errors.New("db: already exists")
	// ErrConflict: a conditional update whose condition no longer holds (another request
	// changed the row first).
	ErrConflict = errors.New("db: changed concurrently")
	// ErrNoJob: Claim found no job due.
	ErrNoJob = errors.New("db: no job is due")
	// ErrLeaseLost: the job was claimed again, or is no longer running.
	ErrLeaseLost = errors.New("db: job lease lost")
)

// pingTimeout bounds how long Open waits for PostgreSQL to answer.
const pingTimeout = 5 * time.Second

// sqliteBusyTimeout is how long a SQLite statement waits for another connection's write
// transaction before it fails with SQLITE_BUSY.
const sqliteBusyTimeout = 30 * time.Second

// Options tunes Open. The zero value is ready to use.
type Options struct {
	// Logger receives migration messages. Default: discard.
	Logger *slog.Logger
	// RetryBackoff is how long a failed job waits before its first retry; the wait doubles
	// with each further attempt, up to RetryBackoffMax. Default: 1s.
	RetryBackoff time.Duration
	// RetryBackoffMax caps the wait before a retry. Default: 5m.
	RetryBackoffMax time.Duration
}

// DB is an open metadata database with its schema migrated to the newest version.
// It is safe for concurrent use.
type DB struct {
	sql       *sql.DB
	dialect   string
	log       *slog.Logger
	now       func() time.Time // the clock; tests replace it
	retryBase time.Duration
	retryMax  time.Duration

	// writeSlot queues this process's SQLite writers (nil on PostgreSQL). SQLite has one
	// writer at a time, and its busy handler makes waiting writers sleep and retry, which
	// under load starves some of them for longer than a job lease; waiting here is in order.
	// Other processes still wait through busy_timeout.
	writeSlot chan struct{}

	notify notifier // wakes the waiters of Enqueued (notify.go)
}

// Open connects to the database named by dsn and applies the pending migrations.
//
// A dsn starting with postgres:// or postgresql:// selects PostgreSQL; anything else is a
// SQLite file: sqlite:///abs/path.db, sqlite:relative.db or a plain path. SQLite runs in WAL
// mode with foreign keys on, and every transaction begins with BEGIN IMMEDIATE, so writers
// from many goroutines queue on the write lock instead of failing with SQLITE_BUSY.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	d := &DB{
		log:       opts.Logger,
		now:       time.Now,
		retryBase: opts.RetryBackoff,
		retryMax:  opts.RetryBackoffMax,
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.retryBase <= 0 {
		d.retryBase = time.Second
	}
	if d.retryMax <= 0 {
		d.retryMax = 5 * time.Minute
	}

	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		d.dialect = DialectPostgres
		err = d.openPostgres(ctx, dsn)
	} else {
		d.dialect = DialectSQLite
		d.writeSlot = make(chan struct{}, 1)
		err = d.openSQLite(dsn)
	}
	if err != nil {
		return nil, err
	}
	if err := d.migrate(ctx); err != nil {
		d.sql.Close()
		return nil, err
	}
	return d, nil
}

// pgMaxConns bounds the connections to PostgreSQL of one process.
const pgMaxConns = 50

func (d *DB) openPostgres(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("db: %w", err) // pgconn redacts the password from its parse errors
	}
	d.sql = stdlib.OpenDB(*cfg)
	d.notify.pgConfig = cfg
	// As many idle connections kept as open ones: under load, a connection closed when it
	// goes back to the pool is a backend that PostgreSQL forks again for the next query (and a
	// statement cache lost), which cost the feed's reads most of their time (bench/feed).
	d.sql.SetMaxOpenConns(pgMaxConns)
	d.sql.SetMaxIdleConns(pgMaxConns)
	d.sql.SetConnMaxIdleTime(5 * time.Minute)

	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := d.sql.PingContext(pctx); err != nil {
		d.sql.Close()
		addr := net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
		return fmt.Errorf("db: cannot reach postgres at %s: %w", addr, err)
	}
	return nil
}

func (d *DB) openSQLite(dsn string) error {
	name, err := sqliteDSN(dsn)
	if err != nil {
		return err
	}
	d.sql, err = sql.Open("sqlite", name)
	if err != nil {
		return fmt.Errorf("db: open sqlite: %w", err)
	}
	// WAL lets readers run beside the one writer; more connections than this only wait.
	d.sql.SetMaxOpenConns(8)
	d.sql.SetMaxIdleConns(8)
	if err := d.sql.Ping(); err != nil {
		d.sql.Close()
		path, _, _ := strings.Cut(name, "?")
		return fmt.Errorf("db: open sqlite %s: %w", path, err)
	}
	return nil
}

// sqliteDSN turns sqlite:///abs.db, sqlite:rel.db or a plain path (each with an optional
// ?query of driver parameters) into a modernc.org/sqlite DSN with reelay's settings.
func sqliteDSN(dsn string) (string, error) {
	path, query, _ := strings.Cut(dsn, "?")
	if p, ok := strings.CutPrefix(path, "sqlite://"); ok {
		path = p
	} else if p, ok := strings.CutPrefix(path, "sqlite:"); ok {
		path = p
	}
	if path == "" {
		return "", fmt.Errorf("db: no file in sqlite dsn %q", dsn)
	}
	params := fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"+
		"&_pragma=synchronous(NORMAL)&_txlock=immediate", sqliteBusyTimeout.Milliseconds())
	if query != "" {
		params += "&" + query
	}
	return path + "?" + params, nil
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("db: ping: %w", err)
	}
	return nil
}

// Close stops the job listener and closes every connection.
func (d *DB) Close() error {
	d.stopListening()
	return d.sql.Close()
}

// Dialect reports DialectSQLite or DialectPostgres.
func (d *DB) Dialect() string { return d.dialect }

// SQL gives the tiers the underlying pool, for reads. Queries must use $1, $2 placeholders and
// store times as unix milliseconds. Write with Exec and Tx, which queue this process's SQLite
// writers; writes straight through this pool wait for SQLite's lock through busy_timeout.
func (d *DB) SQL() *sql.DB { return d.sql }

// lockWrites waits for this process's turn to write to SQLite; call the returned func when
// done. On PostgreSQL it returns at once.
func (d *DB) lockWrites(ctx context.Context) (unlock func(), err error) {
	if d.writeSlot == nil {
		return func() {}, nil
	}
	select {
	case d.writeSlot <- struct{}{}:
		return func() { <-d.writeSlot }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Exec runs one writing statement.
func (d *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	unlock, err := d.lockWrites(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return d.sql.ExecContext(ctx, query, args...)
}

// Tx runs fn in a (write) transaction and commits when fn returns nil. fn must use only tx.
func (d *DB) Tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	unlock, err := d.lockWrites(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// IsUnique reports whether err is a unique or primary key violation in either dialect.
func IsUnique(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// Millis converts t to the stored form: unix milliseconds, 0 for the zero time.
func Millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Time converts stored unix milliseconds back to a UTC time; 0 is the zero time.
func Time(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// RowScanner is what *sql.Row and *sql.Rows have in common, for scanning functions that take
// either.
type RowScanner interface{ Scan(dest ...any) error }

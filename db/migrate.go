package db

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// migrationFS holds the schema versions, migrations/NNNN_name.sql, applied in order. In them
// {{ID}} stands for an auto-increment primary key and {{BYTES}} for a byte string column.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLock is the pg_advisory_xact_lock key that serialises migrations across processes.
const migrationLock = 0x7265656c6179 // "reelay"

type migration struct {
	version int64
	name    string
	sql     string
}

// migrations returns the embedded migrations for dialect, ordered by version.
func migrations(dialect string) ([]migration, error) {
	dialectSQL := map[string]*strings.Replacer{
		DialectSQLite:   strings.NewReplacer("{{ID}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{{BYTES}}", "BLOB"),
		DialectPostgres: strings.NewReplacer("{{ID}}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "{{BYTES}}", "BYTEA"),
	}[dialect]
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var list []migration
	seen := map[int64]string{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".sql")
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("db: migration %s: name must start with a positive version number", f)
		}
		if prev, ok := seen[v]; ok {
			return nil, fmt.Errorf("db: migrations %s and %s share version %d", prev, name, v)
		}
		seen[v] = name
		b, err := migrationFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		list = append(list, migration{version: v, name: name, sql: dialectSQL.Replace(string(b))})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].version < list[j].version })
	return list, nil
}

// migrate applies the migrations that schema_migrations does not list yet, each in its own
// transaction. Concurrent Opens are safe: on PostgreSQL each transaction first takes an
// advisory lock, on SQLite it begins IMMEDIATE; either way the version check runs under the lock.
func (d *DB) migrate(ctx context.Context) error {
	list, err := migrations(d.dialect)
	if err != nil {
		return err
	}
	err = d.lockedTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    BIGINT PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at BIGINT NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("db: create schema_migrations: %w", err)
	}
	for _, m := range list {
		applied := false
		err := d.lockedTx(ctx, func(tx *sql.Tx) error {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.version).Scan(&n)
			if err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, Millis(d.now()))
			applied = err == nil
			return err
		})
		if err != nil {
			return fmt.Errorf("db: migration %s: %w", m.name, err)
		}
		if applied {
			d.log.Info("db: applied migration", "version", m.version, "name", m.name, "dialect", d.dialect)
		}
	}
	return nil
}

// lockedTx runs fn in a transaction that holds the migration lock.
func (d *DB) lockedTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return d.Tx(ctx, func(tx *sql.Tx) error {
		if d.dialect == DialectPostgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
				return err
			}
		}
		return fn(tx)
	})
}

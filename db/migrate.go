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
// Where the dialects need different SQL (full-text search, triggers), a version is written
// twice instead, NNNN_name.sqlite.sql and NNNN_name.postgres.sql, each applied only on its
// dialect and recorded under the same version and name.
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
func migrations(dialect string) ([]migration, error) { return migrationsIn(migrationFS, dialect) }

// migrationsIn returns the migrations under fsys's migrations/ for dialect, ordered by
// version. A version is one plain file or one file per dialect, never both, never a variant
// for one dialect alone: either would leave the dialects' schemas apart.
func migrationsIn(fsys fs.FS, dialect string) ([]migration, error) {
	dialectSQL := map[string]*strings.Replacer{
		DialectSQLite:   strings.NewReplacer("{{ID}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{{BYTES}}", "BLOB"),
		DialectPostgres: strings.NewReplacer("{{ID}}", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "{{BYTES}}", "BYTEA"),
	}[dialect]
	if dialectSQL == nil {
		return nil, fmt.Errorf("db: unknown dialect %q", dialect)
	}
	files, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	type version struct {
		name     string          // without the dialect
		files    map[string]bool // by dialect, "" for a plain file
		migrated *migration      // for dialect
	}
	versions := map[int64]*version{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".sql")
		variant := ""
		for _, d := range []string{DialectSQLite, DialectPostgres} {
			if n, ok := strings.CutSuffix(name, "."+d); ok {
				name, variant = n, d
			}
		}
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if err != nil || v <= 0 || strings.Contains(name, ".") {
			return nil, fmt.Errorf("db: migration %s: name must be NNNN_name.sql or NNNN_name.{sqlite,postgres}.sql, NNNN a positive version", f)
		}
		ver := versions[v]
		if ver == nil {
			ver = &version{name: name, files: map[string]bool{}}
			versions[v] = ver
		}
		if ver.name != name || ver.files[variant] || (variant == "" && len(ver.files) > 0) || ver.files[""] {
			return nil, fmt.Errorf("db: migrations %s and %s share version %d", ver.name, path.Base(f), v)
		}
		ver.files[variant] = true
		if variant != "" && variant != dialect {
			continue
		}
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, err
		}
		ver.migrated = &migration{version: v, name: name, sql: dialectSQL.Replace(string(b))}
	}
	var list []migration
	for v, ver := range versions {
		if !ver.files[""] && (!ver.files[DialectSQLite] || !ver.files[DialectPostgres]) {
			return nil, fmt.Errorf("db: migration %s (version %d) has a variant for one dialect only", ver.name, v)
		}
		list = append(list, *ver.migrated)
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

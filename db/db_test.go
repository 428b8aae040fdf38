package db

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/reelay/reelay/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// forEachDSN runs fn against a fresh SQLite file and a fresh PostgreSQL database.
func forEachDSN(t *testing.T, fn func(t *testing.T, dsn string)) { testenv.ForEachDSN(t, fn) }

// forEachDB runs fn against an opened, migrated DB of each dialect.
func forEachDB(t *testing.T, fn func(t *testing.T, d *DB)) {
	forEachDSN(t, func(t *testing.T, dsn string) { fn(t, openTest(t, dsn)) })
}

func openTest(t *testing.T, dsn string) *DB {
	t.Helper()
	d, err := Open(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// fakeClock makes d's time stand still at a fixed instant until the test moves it.
func fakeClock(d *DB) *testenv.Clock {
	c := testenv.NewClock()
	d.now = c.Now
	return c
}

func TestSQLiteDSN(t *testing.T) {
	const params = "_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate"
	for _, tc := range []struct{ in, want string }{
		{"sqlite:///var/lib/reelay/meta.db", "/var/lib/reelay/meta.db?" + params},
		{"sqlite:meta.db", "meta.db?" + params},
		{"sqlite://meta.db", "meta.db?" + params},
		{"/tmp/x.db", "/tmp/x.db?" + params},
		{"data/x.db", "data/x.db?" + params},
		{"sqlite:x.db?_pragma=cache_size(-2000)", "x.db?" + params + "&_pragma=cache_size(-2000)"},
	} {
		got, err := sqliteDSN(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("sqliteDSN(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "sqlite:", "sqlite://", "sqlite:?x=1"} {
		if got, err := sqliteDSN(bad); err == nil {
			t.Errorf("sqliteDSN(%q) = %q, want an error", bad, got)
		}
	}
}

func TestSQLiteSettings(t *testing.T) {
	d := openTest(t, filepath.Join(t.TempDir(), "plain.db"))
	if d.Dialect() != DialectSQLite {
		t.Fatalf("Dialect() = %q", d.Dialect())
	}
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "1", "busy_timeout": "30000"} {
		var got string
		if err := d.SQL().QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", pragma, got, err, want)
		}
	}
}

// appliedMigrations reads schema_migrations as "version name applied_at" lines.
func appliedMigrations(t *testing.T, d *DB) []string {
	t.Helper()
	rows, err := d.SQL().QueryContext(t.Context(), `SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v, at int64
		var name string
		if err := rows.Scan(&v, &name, &at); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(v, name, at))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrationsReopen(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		d := openTest(t, dsn)
		want, err := migrations(d.Dialect())
		if err != nil || len(want) == 0 {
			t.Fatalf("migrations: %d, %v", len(want), err)
		}
		first := appliedMigrations(t, d)
		if len(first) != len(want) {
			t.Fatalf("applied %q, want %d migrations", first, len(want))
		}
		if _, err := d.Exec(t.Context(), `INSERT INTO users (handle, password_hash, created_at) VALUES ($1, 'h', 1)`, "before-reopen"); err != nil {
			t.Fatal(err)
		}
		d.Close()

		d = openTest(t, dsn) // a re-applied migration would fail: its tables exist
		if again := appliedMigrations(t, d); !reflect.DeepEqual(again, first) {
			t.Errorf("after reopen schema_migrations = %q, want %q", again, first)
		}
		var n int
		if err := d.SQL().QueryRowContext(t.Context(), `SELECT COUNT(*) FROM users WHERE handle = $1`, "before-reopen").Scan(&n); err != nil || n != 1 {
			t.Errorf("data lost across reopen: %d rows, %v", n, err)
		}
	})
}

func TestConcurrentOpen(t *testing.T) {
	forEachDSN(t, func(t *testing.T, dsn string) {
		const n = 4
		start := make(chan struct{})
		errs := make(chan error, n)
		for range n {
			go func() {
				<-start
				d, err := Open(t.Context(), dsn, Options{})
				if err == nil {
					d.Close()
				}
				errs <- err
			}()
		}
		close(start)
		for range n {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		d := openTest(t, dsn)
		want, _ := migrations(d.Dialect())
		if got := appliedMigrations(t, d); len(got) != len(want) {
			t.Errorf("schema_migrations = %q, want %d rows", got, len(want))
		}
	})
}

func TestOpenUnreachablePostgres(t *testing.T) {
	port := testenv.FreePort(t) // closed once FreePort returns
	dsn := fmt.Sprintf("postgres://reelay:s3cret@127.0.0.1:%d/reelay?sslmode=disable", port)
	d, err := Open(t.Context(), dsn, Options{})
	if err == nil {
		d.Close()
		t.Fatal("Open on a closed port succeeded")
	}
	want := fmt.Sprintf("db: cannot reach postgres at 127.0.0.1:%d: ", port)
	if !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error = %q, want it to start with %q and hide the password", err, want)
	}
}

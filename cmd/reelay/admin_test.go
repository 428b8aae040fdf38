package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/testenv"
)

func TestAdminCommand(t *testing.T) {
	testenv.ForEachDSN(t, func(t *testing.T, dsn string) {
		// reelay up's SQLite is found by --data; PostgreSQL by --db.
		var where []string
		if strings.HasPrefix(dsn, "sqlite:") {
			dir := t.TempDir()
			dsn = filepath.Join(dir, "reelay.db")
			where = []string{"--data", dir}
		} else {
			where = []string{"--db", dsn}
		}
		d, err := db.Open(t.Context(), dsn, db.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		accounts := feed.NewAccounts(d)
		if _, err := accounts.CreateUser(t.Context(), "ann", "h"); err != nil {
			t.Fatal(err)
		}
		isAdmin := func() bool {
			t.Helper()
			u, err := accounts.UserByHandle(t.Context(), "ann")
			if err != nil {
				t.Fatal(err)
			}
			return u.Admin
		}
		for _, tc := range []struct {
			args  []string
			code  int
			out   string // in stdout, or in stderr for a failure
			admin bool
		}{
			{[]string{"grant", "ann"}, 0, "ann is an admin", true},
			{[]string{"grant", "ANN"}, 0, "ann is an admin", true},
			{[]string{"revoke", "--handle", "ann"}, 0, "ann is not an admin", false},
			{[]string{"revoke", "ann"}, 0, "ann is not an admin", false},
			{[]string{"grant", "bob"}, 1, `no account "bob"`, false},
		} {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append(append([]string{"admin"}, tc.args...), where...),
				&env{stdout: &stdout, stderr: &stderr, getenv: envOf(nil)})
			out := stdout.String()
			if code != 0 {
				out = stderr.String()
			}
			if code != tc.code || !strings.Contains(out, tc.out) || isAdmin() != tc.admin {
				t.Errorf("reelay admin %v: exit %d, %q, admin %v; want %d, %q, %v", tc.args, code, out, isAdmin(), tc.code, tc.out, tc.admin)
			}
		}
	})
}

func TestAdminCommandRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no verb", []string{"ann"}, 2, `"ann": want grant or revoke first`},
		{"unknown verb", []string{"promote", "ann"}, 2, `"promote": want grant or revoke first`},
		{"nothing", nil, 2, "grant or revoke?"},
		{"a flag first", []string{"--db", "x", "grant", "ann"}, 2, "unexpected argument"},
		{"no handle", []string{"grant"}, 2, "whose?"},
		{"not a handle", []string{"grant", "../x"}, 2, "invalid handle"},
		{"two handles", []string{"grant", "ann", "bob"}, 2, `unexpected argument "bob"`},
		{"unknown flag", []string{"grant", "ann", "--bogus"}, 2, "flag provided but not defined"},
		{"empty data", []string{"grant", "ann", "--data", ""}, 2, "invalid --data"},
		{"no database in data", []string{"grant", "ann", "--data", dir}, 1, "no database at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(context.Background(), append([]string{"admin"}, tc.args...), &env{stdout: &bytes.Buffer{}, stderr: &stderr, getenv: envOf(nil)})
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) || strings.Count(stderr.String(), "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want %d and one line with %q", code, stderr.String(), tc.code, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "reelay.db")); err == nil {
		t.Error("reelay admin made a database in a data directory that had none")
	}
}

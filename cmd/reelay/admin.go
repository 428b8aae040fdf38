package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/feed"
)

// adminConfig is `reelay admin grant|revoke HANDLE`: an account becomes an admin (a moderator
// of reports, at /v1/admin/reports), or no longer is one. It takes effect at the account's
// next request.
type adminConfig struct {
	verb   string // grant or revoke
	handle string
	data   string
	dbDSN  string
}

func setupAdmin(fs *flag.FlagSet) runner {
	c := &adminConfig{}
	fs.StringVar(&c.handle, "handle", "", "the account's handle (required)")
	fs.StringVar(&c.data, "data", "./data", "reelay up's data directory: its SQLite database DATA/reelay.db is used when --db is empty")
	fs.StringVar(&c.dbDSN, "db", "", "metadata database: a postgres:// URL or a SQLite file path; empty for DATA/reelay.db")
	return c
}

func (c *adminConfig) setVerb(v string) { c.verb = v }

func (c *adminConfig) validate() error {
	if c.verb != "grant" && c.verb != "revoke" {
		return usagef("grant or revoke? reelay admin grant|revoke HANDLE")
	}
	if c.handle == "" {
		return usagef("whose? reelay admin %s HANDLE", c.verb)
	}
	h, err := feed.NormalizeHandle(c.handle)
	if err != nil {
		return usagef("invalid handle %q", c.handle)
	}
	c.handle = h
	if c.dbDSN == "" && c.data == "" {
		return usagef("invalid --data: it must not be empty")
	}
	return nil
}

func (c *adminConfig) run(ctx context.Context, e *env) error {
	dsn := c.dbDSN
	if dsn == "" {
		// reelay up's database, which must exist: opening a new one would make it.
		dsn = filepath.Join(c.data, "reelay.db")
		if _, err := os.Stat(dsn); err != nil {
			return fmt.Errorf("no database at %s (is --data reelay up's data directory, or give --db?): %w", dsn, err)
		}
	}
	d, err := openDB(ctx, dsn, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer d.Close()
	grant := c.verb == "grant"
	if err := feed.NewAccounts(d).SetAdmin(ctx, c.handle, grant); errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("no account %q", c.handle)
	} else if err != nil {
		return err
	}
	if grant {
		fmt.Fprintf(e.stdout, "%s is an admin\n", c.handle)
	} else {
		fmt.Fprintf(e.stdout, "%s is not an admin\n", c.handle)
	}
	return nil
}

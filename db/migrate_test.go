package db

import (
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func TestMigrationVariants(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for _, tc := range []struct {
		name  string
		files []string
		// want is "version name sql" per migration on sqlite and on postgres; "" for an error.
		sqlite, postgres string
	}{
		{"plain", []string{"0001_a.sql", "0002_b.sql"}, "1 0001_a 0001_a.sql|2 0002_b 0002_b.sql", "1 0001_a 0001_a.sql|2 0002_b 0002_b.sql"},
		{"variants", []string{"0001_a.sql", "0002_s.sqlite.sql", "0002_s.postgres.sql", "0003_c.sql"},
			"1 0001_a 0001_a.sql|2 0002_s 0002_s.sqlite.sql|3 0003_c 0003_c.sql",
			"1 0001_a 0001_a.sql|2 0002_s 0002_s.postgres.sql|3 0003_c 0003_c.sql"},
		{"two plain files of one version", []string{"0001_a.sql", "0001_b.sql"}, "", ""},
		{"a plain file and a variant", []string{"0001_a.sql", "0001_a.sqlite.sql"}, "", ""},
		{"a variant and a plain file", []string{"0001_a.postgres.sql", "0001_a.sqlite.sql", "0001_b.sql"}, "", ""},
		{"variants of two names", []string{"0001_a.postgres.sql", "0001_b.sqlite.sql"}, "", ""},
		{"one dialect only", []string{"0001_a.sql", "0002_s.sqlite.sql"}, "", ""},
		{"an unknown dialect", []string{"0001_a.mysql.sql"}, "", ""},
		{"no version", []string{"a.sql"}, "", ""},
		{"version zero", []string{"0000_a.sql"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys["migrations/"+f] = file(f) // each file holds its own name as its SQL
			}
			for dialect, want := range map[string]string{DialectSQLite: tc.sqlite, DialectPostgres: tc.postgres} {
				list, err := migrationsIn(fsys, dialect)
				var got []string
				for _, m := range list {
					got = append(got, strings.Join([]string{itoa(m.version), m.name, m.sql}, " "))
				}
				if want == "" {
					if err == nil {
						t.Errorf("%s: %q, want an error", dialect, got)
					}
					continue
				}
				if err != nil || strings.Join(got, "|") != want {
					t.Errorf("%s: %q, %v; want %q", dialect, got, err, want)
				}
			}
		})
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

package ingest

import (
	"testing"

	"github.com/reelay/reelay/feed"
)

// TestAdminUserUploads: a user who is an admin (a moderator) uploads like any user, and sees
// only their own uploads; only the operator's admin token, which is nobody, cannot.
func TestAdminUserUploads(t *testing.T) {
	forEachDB(t, Config{MaxSize: 1000}, func(t *testing.T, e *env) {
		if err := feed.NewAccounts(e.d).SetAdmin(t.Context(), "bob", true); err != nil {
			t.Fatal(err)
		}
		theirs := e.create(e.bob, 5)
		if got := e.offset(theirs, e.bob); got != "0" {
			t.Errorf("HEAD of the admin user's own upload: offset %q", got)
		}
		alices := e.create(e.alice, 5)
		if r := e.do("HEAD", alices, e.bob, nil); r.status != 404 {
			t.Errorf("HEAD of another's upload by an admin user: %d, want 404", r.status)
		}
	})
}

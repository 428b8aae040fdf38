package feed

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/testenv"
)

func TestUsers(t *testing.T) {
	forEachStore(t, func(t *testing.T, d *db.DB) {
		a := NewAccounts(d)
		ctx, c := t.Context(), testenv.NewClock()
		a.now = c.Now
		u, err := a.CreateUser(ctx, "alice", "hash-1")
		if err != nil {
			t.Fatal(err)
		}
		if u.ID <= 0 || u.Handle != "alice" || u.PasswordHash != "hash-1" || !u.CreatedAt.Equal(c.Now()) {
			t.Errorf("CreateUser = %+v", u)
		}
		if _, err := a.CreateUser(ctx, "alice", "hash-2"); !errors.Is(err, db.ErrDuplicate) {
			t.Errorf("second alice: err = %v, want db.ErrDuplicate", err)
		}
		// Handles are stored as given; case folding is the caller's business.
		if _, err := a.CreateUser(ctx, "Alice", "hash-3"); err != nil {
			t.Errorf("Alice: %v", err)
		}

		for name, get := range map[string]func() (User, error){
			"UserByHandle": func() (User, error) { return a.UserByHandle(ctx, "alice") },
			"UserByID":     func() (User, error) { return a.UserByID(ctx, u.ID) },
		} {
			got, err := get()
			if err != nil || got.ID != u.ID || got.Handle != u.Handle || got.PasswordHash != u.PasswordHash || !got.CreatedAt.Equal(u.CreatedAt) {
				t.Errorf("%s = %+v, %v; want %+v", name, got, err, u)
			}
		}
		if _, err := a.UserByHandle(ctx, "bob"); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("UserByHandle(bob): err = %v, want ErrNotFound", err)
		}
		if _, err := a.UserByID(ctx, u.ID+1000); !errors.Is(err, db.ErrNotFound) {
			t.Errorf("UserByID(missing): err = %v, want ErrNotFound", err)
		}
	})
}

func TestTokens(t *testing.T) {
	forEachStore(t, func(t *testing.T, d *db.DB) {
		a := NewAccounts(d)
		ctx, c := t.Context(), testenv.NewClock()
		a.now = c.Now
		hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
		u, err := a.CreateUser(ctx, "carol", "h")
		if err != nil {
			t.Fatal(err)
		}
		if err := a.CreateToken(ctx, hash("session"), u.ID, c.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := a.CreateToken(ctx, hash("forever"), u.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if err := a.CreateToken(ctx, hash("session"), u.ID, time.Time{}); !errors.Is(err, db.ErrDuplicate) {
			t.Errorf("same token twice: err = %v, want db.ErrDuplicate", err)
		}
		if err := a.CreateToken(ctx, hash("orphan"), u.ID+1000, time.Time{}); err == nil {
			t.Error("token for a missing user was stored: foreign key not enforced")
		}

		wantUser := func(token string, want error) {
			t.Helper()
			got, err := a.UserByToken(ctx, hash(token))
			if !errors.Is(err, want) || (want == nil && (got.UserID != u.ID || got.Handle != "carol")) {
				t.Errorf("UserByToken(%s) = %+v, %v; want user %d, err %v", token, got, err, u.ID, want)
			}
		}
		wantUser("session", nil)
		wantUser("forever", nil)
		wantUser("unknown", auth.ErrUnknownToken)

		c.Add(time.Hour) // "session" expires now
		wantUser("session", auth.ErrUnknownToken)
		wantUser("forever", nil)
		for want := int64(1); want >= 0; want-- {
			if n, err := a.DeleteExpiredTokens(ctx); n != want || err != nil {
				t.Errorf("DeleteExpiredTokens = %d, %v; want %d", n, err, want)
			}
		}

		if err := a.DeleteToken(ctx, hash("forever")); err != nil {
			t.Fatal(err)
		}
		wantUser("forever", auth.ErrUnknownToken)
		if err := a.DeleteToken(ctx, hash("forever")); err != nil {
			t.Errorf("deleting a deleted token: %v", err)
		}
	})
}

// forEachStore runs fn against a fresh database of each dialect.
func forEachStore(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	testenv.ForEachDSN(t, func(t *testing.T, dsn string) {
		d, err := db.Open(t.Context(), dsn, db.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		fn(t, d)
	})
}

package db

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

func TestUsers(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx, c := t.Context(), fakeClock(d)
		u, err := d.CreateUser(ctx, "alice", "hash-1")
		if err != nil {
			t.Fatal(err)
		}
		if u.ID <= 0 || u.Handle != "alice" || u.PasswordHash != "hash-1" || !u.CreatedAt.Equal(c.now()) {
			t.Errorf("CreateUser = %+v", u)
		}
		if _, err := d.CreateUser(ctx, "alice", "hash-2"); !errors.Is(err, ErrDuplicate) {
			t.Errorf("second alice: err = %v, want ErrDuplicate", err)
		}
		// Handles are stored as given; case folding is the caller's business.
		if _, err := d.CreateUser(ctx, "Alice", "hash-3"); err != nil {
			t.Errorf("Alice: %v", err)
		}

		for name, get := range map[string]func() (User, error){
			"UserByHandle": func() (User, error) { return d.UserByHandle(ctx, "alice") },
			"UserByID":     func() (User, error) { return d.UserByID(ctx, u.ID) },
		} {
			got, err := get()
			if err != nil || got.ID != u.ID || got.Handle != u.Handle || got.PasswordHash != u.PasswordHash || !got.CreatedAt.Equal(u.CreatedAt) {
				t.Errorf("%s = %+v, %v; want %+v", name, got, err, u)
			}
		}
		if _, err := d.UserByHandle(ctx, "bob"); !errors.Is(err, ErrNotFound) {
			t.Errorf("UserByHandle(bob): err = %v, want ErrNotFound", err)
		}
		if _, err := d.UserByID(ctx, u.ID+1000); !errors.Is(err, ErrNotFound) {
			t.Errorf("UserByID(missing): err = %v, want ErrNotFound", err)
		}
	})
}

func TestTokens(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *DB) {
		ctx, c := t.Context(), fakeClock(d)
		hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
		u, err := d.CreateUser(ctx, "carol", "h")
		if err != nil {
			t.Fatal(err)
		}
		if err := d.CreateToken(ctx, hash("session"), u.ID, c.now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := d.CreateToken(ctx, hash("forever"), u.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if err := d.CreateToken(ctx, hash("session"), u.ID, time.Time{}); !errors.Is(err, ErrDuplicate) {
			t.Errorf("same token twice: err = %v, want ErrDuplicate", err)
		}
		if err := d.CreateToken(ctx, hash("orphan"), u.ID+1000, time.Time{}); err == nil {
			t.Error("token for a missing user was stored: foreign key not enforced")
		}

		wantUser := func(token string, want error) {
			t.Helper()
			got, err := d.UserByToken(ctx, hash(token))
			if !errors.Is(err, want) || (want == nil && got.ID != u.ID) {
				t.Errorf("UserByToken(%s) = %+v, %v; want user %d, err %v", token, got, err, u.ID, want)
			}
		}
		wantUser("session", nil)
		wantUser("forever", nil)
		wantUser("unknown", ErrNotFound)

		c.add(time.Hour) // "session" expires now
		wantUser("session", ErrNotFound)
		wantUser("forever", nil)
		for want := int64(1); want >= 0; want-- {
			if n, err := d.DeleteExpiredTokens(ctx); n != want || err != nil {
				t.Errorf("DeleteExpiredTokens = %d, %v; want %d", n, err, want)
			}
		}

		if err := d.DeleteToken(ctx, hash("forever")); err != nil {
			t.Fatal(err)
		}
		wantUser("forever", ErrNotFound)
		if err := d.DeleteToken(ctx, hash("forever")); err != nil {
			t.Errorf("deleting a deleted token: %v", err)
		}
	})
}

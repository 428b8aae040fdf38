package feed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/auth"
)

// Accounts is the feed's store of users and of their bearer tokens (the hashes of them). It
// resolves tokens for the bearer-token middleware: it is the auth.TokenUsers of the API.
// Handles are stored exactly as given; callers normalise them (NormalizeHandle).
type Accounts struct {
	d   *db.DB
	now func() time.Time
}

var _ auth.TokenUsers = (*Accounts)(nil)

// NewAccounts returns the accounts stored in d.
func NewAccounts(d *db.DB) *Accounts { return &Accounts{d: d, now: time.Now} }

// User is an account.
type User struct {
	ID           int64
	Handle       string
	PasswordHash string
	Admin        bool // a moderator: users.admin, set by `reelay admin grant`
	CreatedAt    time.Time
}

const userCols = `users.id, users.handle, users.password_hash, users.admin, users.created_at`

func scanUser(row *sql.Row) (User, error) {
	var u User
	var created int64
	var admin int
	if err := row.Scan(&u.ID, &u.Handle, &u.PasswordHash, &admin, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return User{}, db.ErrNotFound
		}
		return User{}, err
	}
	u.CreatedAt, u.Admin = db.Time(created), admin != 0
	return u, nil
}

// CreateUser stores a new user. It returns ErrDuplicate when the handle is taken.
func (a *Accounts) CreateUser(ctx context.Context, handle, passwordHash string) (User, error) {
	var u User
	err := a.d.Tx(ctx, func(tx *sql.Tx) (err error) {
		u, err = scanUser(tx.QueryRowContext(ctx,
			`INSERT INTO users (handle, password_hash, created_at) VALUES ($1, $2, $3) RETURNING `+userCols,
			handle, passwordHash, db.Millis(a.now())))
		return err
	})
	if db.IsUnique(err) {
		return User{}, fmt.Errorf("feed: create user %q: %w", handle, db.ErrDuplicate)
	}
	if err != nil {
		return User{}, fmt.Errorf("feed: create user %q: %w", handle, err)
	}
	return u, nil
}

// UserByHandle returns the user with exactly this handle, or ErrNotFound.
func (a *Accounts) UserByHandle(ctx context.Context, handle string) (User, error) {
	u, err := scanUser(a.d.SQL().QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE handle = $1`, handle))
	if err != nil {
		return User{}, fmt.Errorf("feed: user %q: %w", handle, err)
	}
	return u, nil
}

// UserByID returns the user with this id, or ErrNotFound.
func (a *Accounts) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(a.d.SQL().QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if err != nil {
		return User{}, fmt.Errorf("feed: user %d: %w", id, err)
	}
	return u, nil
}

// CreateToken stores the hash of a bearer token for userID. A zero expires means the token
// never expires. It returns ErrDuplicate when the hash is already stored.
func (a *Accounts) CreateToken(ctx context.Context, hash []byte, userID int64, expires time.Time) error {
	var exp any // NULL for never
	if !expires.IsZero() {
		exp = db.Millis(expires)
	}
	_, err := a.d.Exec(ctx, `INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		hash, userID, db.Millis(a.now()), exp)
	if db.IsUnique(err) {
		return fmt.Errorf("feed: create token: %w", db.ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("feed: create token for user %d: %w", userID, err)
	}
	return nil
}

// UserByToken returns the principal of the token with this hash: its owner, an admin when
// users.admin says so (a moderator, read at each request: a revocation counts at once). It returns
// auth.ErrUnknownToken when no such token exists or it has expired.
func (a *Accounts) UserByToken(ctx context.Context, hash []byte) (auth.Principal, error) {
	u, err := scanUser(a.d.SQL().QueryRowContext(ctx, `SELECT `+userCols+` FROM tokens JOIN users ON users.id = tokens.user_id
		WHERE tokens.hash = $1 AND (tokens.expires_at IS NULL OR tokens.expires_at > $2)`, hash, db.Millis(a.now())))
	if errors.Is(err, db.ErrNotFound) {
		return auth.Principal{}, auth.ErrUnknownToken
	}
	if err != nil {
		return auth.Principal{}, fmt.Errorf("feed: user by token: %w", err)
	}
	return auth.Principal{UserID: u.ID, Handle: u.Handle, Admin: u.Admin}, nil
}

// DeleteToken removes the token with this hash (a logout). Deleting a missing token is not
// an error.
func (a *Accounts) DeleteToken(ctx context.Context, hash []byte) error {
	if _, err := a.d.Exec(ctx, `DELETE FROM tokens WHERE hash = $1`, hash); err != nil {
		return fmt.Errorf("feed: delete token: %w", err)
	}
	return nil
}

// DeleteExpiredTokens removes every expired token and returns how many it removed.
func (a *Accounts) DeleteExpiredTokens(ctx context.Context) (int64, error) {
	res, err := a.d.Exec(ctx, `DELETE FROM tokens WHERE expires_at <= $1`, db.Millis(a.now()))
	if err != nil {
		return 0, fmt.Errorf("feed: delete expired tokens: %w", err)
	}
	return res.RowsAffected()
}

// SetAdmin makes the user with this handle an admin (a moderator of reports), or no longer
// one. It returns ErrNotFound when there is no such user.
func (a *Accounts) SetAdmin(ctx context.Context, handle string, admin bool) error {
	flag := 0
	if admin {
		flag = 1
	}
	res, err := a.d.Exec(ctx, `UPDATE users SET admin = $2 WHERE handle = $1`, handle, flag)
	if err != nil {
		return fmt.Errorf("feed: admin %q: %w", handle, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err == nil {
			err = db.ErrNotFound
		}
		return fmt.Errorf("feed: admin %q: %w", handle, err)
	}
	return nil
}

package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// User is an account. Handles are stored exactly as given; callers normalise them.
type User struct {
	ID           int64
	Handle       string
	PasswordHash string
	CreatedAt    time.Time
}

const userCols = `users.id, users.handle, users.password_hash, users.created_at`

func scanUser(row *sql.Row) (User, error) {
	var u User
	var created int64
	if err := row.Scan(&u.ID, &u.Handle, &u.PasswordHash, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return User{}, ErrNotFound
		}
		return User{}, err
	}
	u.CreatedAt = fromMS(created)
	return u, nil
}

// CreateUser stores a new user. It returns ErrDuplicate when the handle is taken.
func (d *DB) CreateUser(ctx context.Context, handle, passwordHash string) (User, error) {
	var u User
	err := d.inTx(ctx, func(tx *sql.Tx) (err error) {
		u, err = scanUser(tx.QueryRowContext(ctx,
			`INSERT INTO users (handle, password_hash, created_at) VALUES ($1, $2, $3) RETURNING `+userCols,
			handle, passwordHash, ms(d.now())))
		return err
	})
	if isUnique(err) {
		return User{}, fmt.Errorf("db: create user %q: %w", handle, ErrDuplicate)
	}
	if err != nil {
		return User{}, fmt.Errorf("db: create user %q: %w", handle, err)
	}
	return u, nil
}

// UserByHandle returns the user with exactly this handle, or ErrNotFound.
func (d *DB) UserByHandle(ctx context.Context, handle string) (User, error) {
	u, err := scanUser(d.sql.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE handle = $1`, handle))
	if err != nil {
		return User{}, fmt.Errorf("db: user %q: %w", handle, err)
	}
	return u, nil
}

// UserByID returns the user with this id, or ErrNotFound.
func (d *DB) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(d.sql.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if err != nil {
		return User{}, fmt.Errorf("db: user %d: %w", id, err)
	}
	return u, nil
}

// CreateToken stores the hash of a bearer token for userID. A zero expires means the token
// never expires. It returns ErrDuplicate when the hash is already stored.
func (d *DB) CreateToken(ctx context.Context, hash []byte, userID int64, expires time.Time) error {
	var exp any // NULL for never
	if !expires.IsZero() {
		exp = ms(expires)
	}
	_, err := d.exec(ctx, `INSERT INTO tokens (hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		hash, userID, ms(d.now()), exp)
	if isUnique(err) {
		return fmt.Errorf("db: create token: %w", ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("db: create token for user %d: %w", userID, err)
	}
	return nil
}

// UserByToken returns the owner of the token with this hash, or ErrNotFound when no such
// token exists or it has expired.
func (d *DB) UserByToken(ctx context.Context, hash []byte) (User, error) {
	u, err := scanUser(d.sql.QueryRowContext(ctx, `SELECT `+userCols+` FROM tokens JOIN users ON users.id = tokens.user_id
		WHERE tokens.hash = $1 AND (tokens.expires_at IS NULL OR tokens.expires_at > $2)`, hash, ms(d.now())))
	if err != nil {
		return User{}, fmt.Errorf("db: user by token: %w", err)
	}
	return u, nil
}

// DeleteToken removes the token with this hash (a logout). Deleting a missing token is not
// an error.
func (d *DB) DeleteToken(ctx context.Context, hash []byte) error {
	if _, err := d.exec(ctx, `DELETE FROM tokens WHERE hash = $1`, hash); err != nil {
		return fmt.Errorf("db: delete token: %w", err)
	}
	return nil
}

// DeleteExpiredTokens removes every expired token and returns how many it removed.
func (d *DB) DeleteExpiredTokens(ctx context.Context) (int64, error) {
	res, err := d.exec(ctx, `DELETE FROM tokens WHERE expires_at <= $1`, ms(d.now()))
	if err != nil {
		return 0, fmt.Errorf("db: delete expired tokens: %w", err)
	}
	return res.RowsAffected()
}

package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/reelay/reelay/internal/apierr"
)

// Principal is who a request acts for.
type Principal struct {
	UserID int64  // 0 for the admin token
	Handle string // empty for the admin token
	// Admin is true for the operator's admin token, and for users whom TokenUsers says are
	// admins (moderators). A user who is an admin still has a UserID: code that means "the
	// operator's token, nobody's account" checks UserID == 0.
	Admin bool
}

// TokenUsers resolves a stored token hash (HashToken) to the user it belongs to, or returns
// ErrUnknownToken; feed.Accounts is one.
type TokenUsers interface {
	UserByToken(ctx context.Context, hash []byte) (Principal, error)
}

// ErrUnknownToken is what TokenUsers returns for a hash that names no live token: unknown,
// revoked or expired.
var ErrUnknownToken = errors.New("auth: unknown or expired token")

// Authenticator resolves bearer tokens.
type Authenticator struct {
	users TokenUsers
	admin []byte // SHA-256 of the admin token; nil when none is configured
	log   *slog.Logger
}

// NewAuthenticator returns an Authenticator over users. adminToken, when not empty, is
// accepted as the operator's token. log may be nil.
func NewAuthenticator(users TokenUsers, adminToken string, log *slog.Logger) *Authenticator {
	a := &Authenticator{users: users, log: log}
	if adminToken != "" {
		h := sha256.Sum256([]byte(adminToken))
		a.admin = h[:]
	}
	return a
}

type ctxKey struct{}

// FromContext returns the request's principal, if it presented a valid token.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

var errInvalidToken = &apierr.Error{Status: http.StatusUnauthorized, Code: "invalid_token", Message: "the bearer token is invalid or expired"}

// Middleware resolves an "Authorization: Bearer" header to a Principal in the request's
// context. A request without the header passes through anonymously; one with a malformed,
// unknown or expired token is answered 401.
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			next.ServeHTTP(w, r)
			return
		}
		p, err := a.resolve(r.Context(), h)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			apierr.Write(w, r, a.log, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

func (a *Authenticator) resolve(ctx context.Context, header string) (Principal, error) {
	scheme, token, ok := strings.Cut(header, " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return Principal{}, errInvalidToken
	}
	hash := HashToken(token)
	if a.admin != nil && subtle.ConstantTimeCompare(hash, a.admin) == 1 {
		return Principal{Admin: true}, nil
	}
	p, err := a.users.UserByToken(ctx, hash)
	if errors.Is(err, ErrUnknownToken) {
		return Principal{}, errInvalidToken
	}
	if err != nil {
		return Principal{}, err
	}
	return p, nil
}

// Require wraps h so that it runs only for a request with a valid token; others get 401.
func Require(h apierr.HandlerFunc) apierr.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, ok := FromContext(r.Context()); !ok {
			w.Header().Set("WWW-Authenticate", "Bearer")
			return apierr.New(http.StatusUnauthorized, "unauthenticated", "this endpoint needs a bearer token")
		}
		return h(w, r)
	}
}

// RequireAdmin wraps h so that it runs only for an admin: the admin token or an admin user;
// others get 401 or 403.
func RequireAdmin(h apierr.HandlerFunc) apierr.HandlerFunc {
	return Require(func(w http.ResponseWriter, r *http.Request) error {
		if p, _ := FromContext(r.Context()); !p.Admin {
			return apierr.New(http.StatusForbidden, "forbidden", "this endpoint is for admins")
		}
		return h(w, r)
	})
}

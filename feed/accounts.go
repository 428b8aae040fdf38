package feed

import (
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/ratelimit"
)

// handleRE is what a handle may look like once lowercased: 3 to 30 of a-z, 0-9, '_' and
// '.', starting with a letter or digit, with no '..' and no trailing '.'.
var handleRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.]{2,29}$`)

// NormalizeHandle lowercases and validates a handle, so that "Ann" and "ann" are one user.
func NormalizeHandle(h string) (string, error) {
	h = strings.ToLower(strings.TrimSpace(h))
	if !handleRE.MatchString(h) || strings.Contains(h, "..") || strings.HasSuffix(h, ".") {
		return "", apierr.New(http.StatusBadRequest, "invalid_handle",
			"a handle is 3 to 30 letters, digits, '_' or '.', starting with a letter or digit")
	}
	return h, nil
}

func validatePassword(p string) error {
	if n := utf8.RuneCountInString(p); n < 8 || len(p) > 256 {
		return apierr.New(http.StatusBadRequest, "invalid_password", "a password is 8 to 256 bytes long")
	}
	return nil
}

type credentials struct {
	Handle   string `json:"handle"`
	Password string `json:"password"`
}

type userJSON struct {
	ID        int64     `json:"id"`
	Handle    string    `json:"handle"`
	CreatedAt time.Time `json:"created_at"`
}

func toJSON(u User) userJSON { return userJSON{u.ID, u.Handle, u.CreatedAt.UTC()} }

func (s *Service) createUser(w http.ResponseWriter, r *http.Request) error {
	var c credentials
	if err := apierr.DecodeJSON(r, &c, 0); err != nil {
		return err
	}
	handle, err := NormalizeHandle(c.Handle)
	if err != nil {
		return err
	}
	if err := validatePassword(c.Password); err != nil {
		return err
	}
	if err := s.limit(w, s.register, clientIP(r)); err != nil {
		return err
	}
	var hash string
	if err := s.hash(r.Context(), func() { hash, err = auth.HashPassword(c.Password) }); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	u, err := s.accounts.CreateUser(r.Context(), handle, hash)
	if errors.Is(err, db.ErrDuplicate) {
		return apierr.Errorf(http.StatusConflict, "handle_taken", "the handle %q is taken", handle)
	}
	if err != nil {
		return err
	}
	s.log.Info("user registered", "user", u.ID, "handle", u.Handle)
	w.Header().Set("Location", "/v1/users/"+strconv.FormatInt(u.ID, 10))
	apierr.WriteJSON(w, http.StatusCreated, toJSON(u))
	return nil
}

var errBadCredentials = apierr.New(http.StatusUnauthorized, "invalid_credentials", "the handle or the password is wrong")

func (s *Service) createSession(w http.ResponseWriter, r *http.Request) error {
	var c credentials
	if err := apierr.DecodeJSON(r, &c, 0); err != nil {
		return err
	}
	handle, herr := NormalizeHandle(c.Handle)
	if err := s.limit(w, s.login, "ip:"+clientIP(r)); err != nil {
		return err
	}
	if herr == nil {
		if err := s.limit(w, s.login, "handle:"+handle); err != nil {
			return err
		}
	}
	u, err := s.accounts.UserByHandle(r.Context(), handle)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return err
	}
	stored := u.PasswordHash
	if herr != nil || err != nil {
		stored = s.dummyHash
	}
	var ok bool
	if err := s.hash(r.Context(), func() { ok, err = auth.CheckPassword(stored, c.Password) }); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	if !ok || herr != nil || u.ID == 0 {
		s.logins.WithLabelValues("invalid").Inc()
		return errBadCredentials
	}
	token, hash := auth.NewToken()
	expires := time.Now().Add(s.cfg.TokenTTL).UTC().Truncate(time.Millisecond)
	if err := s.accounts.CreateToken(r.Context(), hash, u.ID, expires); err != nil {
		return err
	}
	s.logins.WithLabelValues("ok").Inc()
	apierr.WriteJSON(w, http.StatusCreated, map[string]any{"token": token, "expires_at": expires, "user": toJSON(u)})
	return nil
}

func (s *Service) deleteSession(w http.ResponseWriter, r *http.Request) error {
	_, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if err := s.accounts.DeleteToken(r.Context(), auth.HashToken(strings.TrimSpace(token))); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Service) me(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context())
	if p.Admin {
		apierr.WriteJSON(w, http.StatusOK, map[string]any{"admin": true})
		return nil
	}
	u, err := s.accounts.UserByID(r.Context(), p.UserID)
	if err != nil {
		return err
	}
	apierr.WriteJSON(w, http.StatusOK, toJSON(u))
	return nil
}

// limit takes a token for key from l, or answers 429 with Retry-After.
func (s *Service) limit(w http.ResponseWriter, l *ratelimit.Limiter, key string) error {
	ok, wait := l.Allow(key)
	if ok {
		return nil
	}
	s.logins.WithLabelValues("limited").Inc()
	w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
	return apierr.New(http.StatusTooManyRequests, "rate_limited", "too many attempts; try again later")
}

// clientIP is the address the request came from. Proxy headers are not trusted here.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

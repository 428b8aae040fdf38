package feed

import (
	"errors"
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
	if ok, wait := s.register.Allow(ratelimit.Addr(r.RemoteAddr)); !ok {
		return tooManyAttempts(w, wait)
	}
	var hash string
	if err := s.hash(w, r, func() { hash, err = auth.HashPassword(c.Password) }); err != nil {
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

// loginRequest is the body of POST /v1/sessions.
type loginRequest struct {
	Handle   string `json:"handle"`
	Password string `json:"password"`
	// DeviceToken is the device_token that an earlier login returned to this device, if any:
	// it makes the device a known one, whose logins are throttled apart (loginThrottle).
	DeviceToken string `json:"device_token"`
}

// createSession logs a user in: a bearer token, and a device token for the next logins.
func (s *Service) createSession(w http.ResponseWriter, r *http.Request) error {
	var c loginRequest
	if err := apierr.DecodeJSON(r, &c, 0); err != nil {
		return err
	}
	handle, err := NormalizeHandle(c.Handle)
	if err != nil {
		handle = "" // no such user, and not a key of the throttle
	}
	now := time.Now()

	// A known device is found out before the throttle, which it is spared; any other login
	// is throttled before anything is looked up.
	var u User
	looked := false
	if p, authed := auth.FromContext(r.Context()); handle != "" && (c.DeviceToken != "" || (authed && p.UserID != 0)) {
		if u, err = s.userByHandle(r, handle); err != nil {
			return err
		}
		looked = true
	}
	knownKey, device, deviceKnown := s.knownDevice(r, u, c.DeviceToken, now)
	var attempt *loginAttempt
	var wait time.Duration
	if knownKey != "" {
		attempt, wait = s.throttle.fromKnownDevice(knownKey)
	} else {
		attempt, wait = s.throttle.fromUnknownDevice(handle, r.RemoteAddr)
	}
	if wait > 0 {
		s.logins.WithLabelValues("limited").Inc()
		return tooManyAttempts(w, wait)
	}
	if !looked && handle != "" {
		if u, err = s.userByHandle(r, handle); err != nil {
			attempt.cancel()
			return err
		}
	}

	// An unknown handle is checked against a dummy hash, so that it takes as long as a wrong
	// password and is answered alike.
	stored := u.PasswordHash
	if u.ID == 0 {
		stored = s.dummyHash
	}
	var ok bool
	if err := s.hash(w, r, func() { ok, err = auth.CheckPassword(stored, c.Password) }); err != nil {
		attempt.cancel()
		if errors.Is(err, errBusy) {
			s.logins.WithLabelValues("busy").Inc()
		}
		return err
	}
	if err != nil {
		attempt.cancel()
		return err
	}
	if !ok || u.ID == 0 {
		s.logins.WithLabelValues("invalid").Inc()
		return errBadCredentials // the attempt stays counted as a failure
	}
	attempt.succeeded()

	token, hash := auth.NewToken()
	expires := now.Add(s.cfg.TokenTTL).UTC().Truncate(time.Millisecond)
	if err := s.accounts.CreateToken(r.Context(), hash, u.ID, expires); err != nil {
		return err
	}
	if !deviceKnown {
		device = auth.NewDeviceID()
	}
	s.logins.WithLabelValues("ok").Inc()
	apierr.WriteJSON(w, http.StatusCreated, map[string]any{
		"token": token, "expires_at": expires, "user": toJSON(u),
		"device_token": auth.NewDeviceToken(deviceKey(u), device, now),
	})
	return nil
}

// knownDevice tells whether a login for u comes from a device that u's account knows: one
// that presents a valid device token of the account, or a valid bearer token of it. It
// returns the device's key in the login throttle ("" for an unknown device), and the device's
// id when it presented a device token.
func (s *Service) knownDevice(r *http.Request, u User, deviceToken string, now time.Time) (key string, id auth.DeviceID, byToken bool) {
	if u.ID == 0 {
		return "", id, false
	}
	user := strconv.FormatInt(u.ID, 10)
	if id, ok := auth.CheckDeviceToken(deviceKey(u), deviceToken, now, s.cfg.DeviceTTL); ok {
		return "device:" + user + ":" + id.String(), id, true
	}
	if p, ok := auth.FromContext(r.Context()); ok && p.UserID != 0 && p.UserID == u.ID {
		return "session:" + user, id, false
	}
	return "", id, false
}

// userByHandle returns the user with this handle, or a zero User when there is none.
func (s *Service) userByHandle(r *http.Request, handle string) (User, error) {
	u, err := s.accounts.UserByHandle(r.Context(), handle)
	if errors.Is(err, db.ErrNotFound) {
		return User{}, nil
	}
	return u, err
}

// deviceKey is the key that signs the device tokens of u: derived from u's id and password
// hash, a secret that every API node already shares through the database, so that a new
// password retires every device token of the account.
func deviceKey(u User) []byte {
	return []byte("reelay device token\x00" + strconv.FormatInt(u.ID, 10) + "\x00" + u.PasswordHash)
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
	if p.UserID == 0 { // the operator's admin token
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

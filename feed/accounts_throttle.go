package feed

import (
	"net/http"
	"strconv"
	"time"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/ratelimit"
)

// loginThrottle slows down password guessing without locking an account's owner out.
//
// A login from a device that the account does not know is throttled twice: per handle, so
// that guesses at one account from many addresses add up, and per client network
// (ratelimit.Addr: an IPv4 address, an IPv6 /64), so that one network cannot guess at many
// accounts. A login from a known device (a valid device token, or a valid bearer token of the
// same account) is throttled per device instead, and neither the handle's failures nor the
// network's count against it: however many guesses are made at a handle, its owner still
// logs in from a phone that has logged in before.
//
// Each is a ratelimit.Backoff: a few failures are free, then every further attempt waits a
// delay that doubles with each failure, up to a bound, and is answered 429 with Retry-After
// until then; never a lock. A successful login clears the handle's or the device's failures
// (the password was known), but only gives back its own attempt to the network, so that a
// client logging into an account of its own cannot wipe out its guesses at others.
type loginThrottle struct {
	handles *ratelimit.Backoff // by handle: logins from unknown devices
	addrs   *ratelimit.Backoff // by client network: logins from unknown devices
	devices *ratelimit.Backoff // by account and device: logins from known devices
}

func newLoginThrottle(cfg Config) *loginThrottle {
	perAccount := ratelimit.BackoffConfig{Free: cfg.LoginBurst, Delay: cfg.LoginDelay, MaxDelay: cfg.LoginMaxDelay, Forget: 4 * cfg.LoginMaxDelay}
	perAddr := perAccount
	perAddr.Free = cfg.LoginAddrBurst
	return &loginThrottle{
		handles: ratelimit.NewBackoff(perAccount),
		addrs:   ratelimit.NewBackoff(perAddr),
		devices: ratelimit.NewBackoff(perAccount),
	}
}

// loginAttempt is the throttle's account of one login under way: the keys it was charged to.
type loginAttempt struct {
	t                    *loginThrottle
	handle, addr, device string // "" when not charged
}

// fromUnknownDevice charges a login from a device that the account does not know to the
// handle (when it is a valid one) and to the client's network, or returns how long to wait.
func (t *loginThrottle) fromUnknownDevice(handle, remoteAddr string) (*loginAttempt, time.Duration) {
	a := &loginAttempt{t: t}
	addr := ratelimit.Addr(remoteAddr)
	if wait := t.addrs.Attempt(addr); wait > 0 {
		return nil, wait
	}
	a.addr = addr
	if handle != "" {
		if wait := t.handles.Attempt(handle); wait > 0 {
			a.cancel()
			return nil, wait
		}
		a.handle = handle
	}
	return a, 0
}

// fromKnownDevice charges a login from a known device, named by key, to that device alone,
// or returns how long to wait.
func (t *loginThrottle) fromKnownDevice(key string) (*loginAttempt, time.Duration) {
	if wait := t.devices.Attempt(key); wait > 0 {
		return nil, wait
	}
	return &loginAttempt{t: t, device: key}, 0
}

// succeeded records that the password was right.
func (a *loginAttempt) succeeded() {
	if a.handle != "" {
		a.t.handles.Reset(a.handle)
	}
	if a.device != "" {
		a.t.devices.Reset(a.device)
	}
	if a.addr != "" {
		a.t.addrs.Refund(a.addr)
	}
}

// cancel gives back an attempt that never checked a password (the server was busy, or the
// request failed): it counts as no failure.
func (a *loginAttempt) cancel() {
	if a.handle != "" {
		a.t.handles.Refund(a.handle)
	}
	if a.device != "" {
		a.t.devices.Refund(a.device)
	}
	if a.addr != "" {
		a.t.addrs.Refund(a.addr)
	}
}

// tooManyAttempts answers a throttled request: 429 with the seconds to wait in Retry-After.
func tooManyAttempts(w http.ResponseWriter, wait time.Duration) error {
	w.Header().Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
	return apierr.New(http.StatusTooManyRequests, "rate_limited", "too many attempts; try again later")
}

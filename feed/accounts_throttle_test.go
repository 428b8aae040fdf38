package feed

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// loginBody is the body of a login, with a device token when device is not "".
func loginBody(handle, password, device string) string {
	if device == "" {
		return fmt.Sprintf(`{"handle":%q,"password":%q}`, handle, password)
	}
	return fmt.Sprintf(`{"handle":%q,"password":%q,"device_token":%q}`, handle, password, device)
}

// wantStatus checks a response's status and, for an error, its code.
func wantStatus(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.errCode() != code {
		t.Fatalf("%s: %d %v, want %d %s", what, r.status, r.body, status, code)
	}
	if status == 429 {
		if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
			t.Fatalf("%s: 429 with Retry-After %q", what, r.header.Get("Retry-After"))
		}
	}
}

// TestLoginThrottleSparesKnownDevices checks that guesses at a handle from many addresses
// throttle the handle, but not its owner's devices that have logged in before, and that a
// known device is throttled on its own.
func TestLoginThrottleSparesKnownDevices(t *testing.T) {
	forEachDB(t, Config{LoginBurst: 3, LoginAddrBurst: 100, LoginDelay: time.Hour}, func(t *testing.T, api *client) {
		api.do("POST", "/v1/users", "", `{"handle":"carol","password":"correct horse"}`)
		api.do("POST", "/v1/users", "", `{"handle":"dave","password":"correct horse"}`)
		phone := api.from("198.51.100.7").do("POST", "/v1/sessions", "", loginBody("carol", "correct horse", ""))
		wantStatus(t, "carol's first login", phone, 201, "")
		device, _ := phone.body["device_token"].(string)
		session, _ := phone.body["token"].(string)
		if device == "" || session == "" {
			t.Fatalf("login without a device token or a token: %v", phone.body)
		}
		other := api.do("POST", "/v1/sessions", "", loginBody("dave", "correct horse", "")).body["device_token"].(string)

		// A brute force from many addresses, each guess from a new one: three guesses, then
		// the handle waits, whatever the address.
		for i := range 10 {
			r := api.from(fmt.Sprintf("203.0.113.%d", i+1)).do("POST", "/v1/sessions", "", loginBody("carol", fmt.Sprintf("guess %d", i), ""))
			if i < 3 {
				wantStatus(t, fmt.Sprintf("guess %d", i+1), r, 401, "invalid_credentials")
			} else {
				wantStatus(t, fmt.Sprintf("guess %d", i+1), r, 429, "rate_limited")
			}
		}
		// Even the right password waits, from a device that carol's account does not know,
		// or with another account's device token.
		wantStatus(t, "carol from a new device", api.from("198.51.100.8").do("POST", "/v1/sessions", "", loginBody("carol", "correct horse", "")), 429, "rate_limited")
		wantStatus(t, "carol with dave's device", api.from("198.51.100.8").do("POST", "/v1/sessions", "", loginBody("carol", "correct horse", other)), 429, "rate_limited")
		wantStatus(t, "carol with a forged device", api.from("198.51.100.8").do("POST", "/v1/sessions", "", loginBody("carol", "correct horse", forged(device))), 429, "rate_limited")

		// Her phone logs in, from anywhere, even an attacker's address; so does a device
		// with a valid session of hers.
		r := api.from("203.0.113.1").do("POST", "/v1/sessions", "", loginBody("carol", "correct horse", device))
		wantStatus(t, "carol's phone", r, 201, "")
		if renewed, _ := r.body["device_token"].(string); renewed == "" {
			t.Fatalf("no renewed device token: %v", r.body)
		}
		wantStatus(t, "carol with a session", api.from("198.51.100.9").do("POST", "/v1/sessions", session, loginBody("carol", "correct horse", "")), 201, "")
		// A session of another account is no help.
		daveSession := api.login("dave", "correct horse")
		wantStatus(t, "carol with dave's session", api.do("POST", "/v1/sessions", daveSession, loginBody("carol", "correct horse", "")), 429, "rate_limited")

		// A known device is throttled too, on its own: a stolen device token buys no more
		// guesses than the handle has.
		for i := range 3 {
			wantStatus(t, "wrong password on the phone", api.do("POST", "/v1/sessions", "", loginBody("carol", fmt.Sprintf("typo %d", i), device)), 401, "invalid_credentials")
		}
		wantStatus(t, "4th wrong password on the phone", api.do("POST", "/v1/sessions", "", loginBody("carol", "correct horse", device)), 429, "rate_limited")
		wantStatus(t, "dave meanwhile", api.do("POST", "/v1/sessions", "", loginBody("dave", "correct horse", "")), 201, "")
	})
}

// TestLoginThrottleByNetwork checks that logins from unknown devices are throttled per
// network, an IPv6 /64 counting as one client, and that a client's own successful logins do
// not wipe out its failures.
func TestLoginThrottleByNetwork(t *testing.T) {
	forEachDB(t, Config{LoginBurst: 100, LoginAddrBurst: 3, LoginDelay: time.Hour}, func(t *testing.T, api *client) {
		api.do("POST", "/v1/users", "", `{"handle":"erin","password":"correct horse"}`)
		for i, addr := range []string{"2001:db8:1:2::1", "2001:db8:1:2:aaaa::1"} {
			wantStatus(t, "guess from "+addr, api.from(addr).do("POST", "/v1/sessions", "", loginBody(fmt.Sprintf("victim%d", i), "wrong horse", "")), 401, "invalid_credentials")
		}
		// Logging into an account of its own gives back that attempt, and nothing more.
		wantStatus(t, "erin from the /64", api.from("2001:db8:1:2::2").do("POST", "/v1/sessions", "", loginBody("erin", "correct horse", "")), 201, "")
		wantStatus(t, "third guess", api.from("2001:db8:1:2:ffff:ffff:ffff:ffff").do("POST", "/v1/sessions", "", loginBody("victim2", "wrong horse", "")), 401, "invalid_credentials")
		wantStatus(t, "fourth guess", api.from("2001:db8:1:2::3").do("POST", "/v1/sessions", "", loginBody("victim3", "wrong horse", "")), 429, "rate_limited")
		// Other networks have their own counts; an IPv4 address is a network of its own.
		wantStatus(t, "next /64", api.from("2001:db8:1:3::1").do("POST", "/v1/sessions", "", loginBody("victim3", "wrong horse", "")), 401, "invalid_credentials")
		for i := range 3 {
			wantStatus(t, "IPv4 guess", api.from("192.0.2.1").do("POST", "/v1/sessions", "", loginBody(fmt.Sprintf("ipv4victim%d", i), "wrong horse", "")), 401, "invalid_credentials")
		}
		wantStatus(t, "next IPv4 address", api.from("192.0.2.2").do("POST", "/v1/sessions", "", loginBody("ipv4victim3", "wrong horse", "")), 401, "invalid_credentials")
		wantStatus(t, "mapped IPv4 address", api.from("::ffff:192.0.2.1").do("POST", "/v1/sessions", "", loginBody("ipv4victim4", "wrong horse", "")), 429, "rate_limited")
	})
}

// TestRegisterThrottleByNetwork checks that registrations are limited per network, an IPv6
// /64 counting as one client.
func TestRegisterThrottleByNetwork(t *testing.T) {
	forEachDB(t, Config{RegisterBurst: 2, RegisterInterval: time.Hour}, func(t *testing.T, api *client) {
		for i, addr := range []string{"2001:db8:5:6::1", "2001:db8:5:6:1234:5678:9abc:def0"} {
			wantStatus(t, "register from "+addr, api.from(addr).do("POST", "/v1/users", "", fmt.Sprintf(`{"handle":"user%d","password":"correct horse"}`, i)), 201, "")
		}
		wantStatus(t, "third from the /64", api.from("2001:db8:5:6::ffff").do("POST", "/v1/users", "", `{"handle":"user2","password":"correct horse"}`), 429, "rate_limited")
		wantStatus(t, "from the next /64", api.from("2001:db8:5:7::1").do("POST", "/v1/users", "", `{"handle":"user3","password":"correct horse"}`), 201, "")
	})
}

// TestLoginFloodIsRefusedFast checks that a flood of logins cannot queue without bound for
// the password hashing slots: with every slot busy, HashQueue logins wait and every other one
// is answered 429 busy at once, the owner's among them, rather than after the whole flood.
func TestLoginFloodIsRefusedFast(t *testing.T) {
	const flood, queue = 12, 3
	forEachService(t, Config{HashSlots: 2, HashQueue: queue, LoginAddrBurst: 100, LoginBurst: 100}, func(t *testing.T, s *Service, api *client) {
		api.do("POST", "/v1/users", "", `{"handle":"frank","password":"correct horse"}`)
		device := api.do("POST", "/v1/sessions", "", loginBody("frank", "correct horse", "")).body["device_token"].(string)

		// Take every slot, as argon2 computations that never end would.
		for range cap(s.hashing) {
			s.hashing <- struct{}{}
		}
		var once sync.Once
		release := func() {
			once.Do(func() {
				for range cap(s.hashing) {
					<-s.hashing
				}
			})
		}
		var wg sync.WaitGroup // every login sent, answered before the test ends
		defer wg.Wait()
		defer release()

		var mu sync.Mutex
		var answered []response
		for i := range flood {
			wg.Go(func() {
				r, err := api.from(fmt.Sprintf("203.0.113.%d", i+1)).send("POST", "/v1/sessions", "", loginBody("frank", fmt.Sprintf("guess %d", i), ""))
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				answered = append(answered, r)
				mu.Unlock()
			})
		}
		// Each login of the flood is answered or waiting; until the slots are released, only
		// the refused ones can be answered.
		settled := func() (int, int64) {
			mu.Lock()
			defer mu.Unlock()
			return len(answered), s.hashWaiting.Load()
		}
		waitFor(t, "every login of the flood answered or waiting", func() bool { n, w := settled(); return int64(n)+w >= flood })
		n, waiting := settled()
		if waiting != queue || n != flood-queue {
			t.Errorf("with every slot busy: %d waiting, %d answered; want %d waiting, %d answered", waiting, n, queue, flood-queue)
		}
		mu.Lock()
		for _, r := range answered {
			wantStatus(t, "a login of the flood", r, 429, "busy")
		}
		mu.Unlock()

		// The owner, from a known device, is not queued behind the flood either: a fast 429.
		owner := make(chan response, 1)
		wg.Go(func() {
			r, err := api.send("POST", "/v1/sessions", "", loginBody("frank", "correct horse", device))
			if err != nil {
				t.Error(err)
			}
			owner <- r
		})
		var r response
		waitFor(t, "the owner's login answered or waiting", func() bool {
			select {
			case r = <-owner:
				return true
			default:
				return s.hashWaiting.Load() > queue
			}
		})
		if s.hashWaiting.Load() > queue {
			t.Fatalf("the owner's login queued: %d logins waiting, over the bound of %d", s.hashWaiting.Load(), queue)
		}
		wantStatus(t, "the owner's login during the flood", r, 429, "busy")
		var busy dto.Metric
		if err := s.logins.WithLabelValues("busy").Write(&busy); err != nil {
			t.Fatal(err)
		}
		if got := busy.GetCounter().GetValue(); got != flood-queue+1 {
			t.Errorf("busy logins counted: %v, want %d", got, flood-queue+1)
		}

		// Once the slots are free, the queued logins are answered, and the owner logs in.
		release()
		wg.Wait()
		if len(answered) != flood {
			t.Fatalf("%d logins of the flood answered, want %d", len(answered), flood)
		}
		for _, r := range answered[flood-queue:] {
			wantStatus(t, "a queued login of the flood", r, 401, "invalid_credentials")
		}
		wantStatus(t, "the owner's login after the flood", api.do("POST", "/v1/sessions", "", loginBody("frank", "correct horse", device)), 201, "")
	})
}

// forged is device token with one character changed.
func forged(token string) string {
	c := byte('A')
	if token[10] == c {
		c = 'B'
	}
	return token[:10] + string(c) + token[11:]
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

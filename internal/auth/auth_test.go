package auth

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/reelay/reelay/internal/apierr"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string", h)
	}
	if h2, _ := HashPassword("correct horse"); h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	if ok, err := CheckPassword(h, "correct horse"); !ok || err != nil {
		t.Fatalf("right password: %v %v", ok, err)
	}
	if ok, err := CheckPassword(h, "correct horsE"); ok || err != nil {
		t.Fatalf("wrong password: %v %v", ok, err)
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=99999999,t=1,p=1$AA$AA", strings.Replace(h, "v=19", "v=16", 1)} {
		if _, err := CheckPassword(bad, "x"); err != ErrMalformedHash {
			t.Errorf("CheckPassword(%q) err = %v, want ErrMalformedHash", bad, err)
		}
	}
}

func TestNewToken(t *testing.T) {
	a, ha := NewToken()
	b, _ := NewToken()
	if a == b || len(a) != 43 {
		t.Fatalf("tokens %q %q", a, b)
	}
	if !bytes.Equal(ha, HashToken(a)) {
		t.Fatal("returned hash differs from HashToken")
	}
}

// fakeUsers is a TokenUsers backed by a map of token to user.
type fakeUsers map[string]Principal

func (f fakeUsers) UserByToken(_ context.Context, hash []byte) (Principal, error) {
	for tok, p := range f {
		if bytes.Equal(HashToken(tok), hash) {
			return p, nil
		}
	}
	return Principal{}, ErrUnknownToken
}

// testUsers are a user, and a user who is an admin (a moderator).
var testUsers = fakeUsers{"user-token": {UserID: 7, Handle: "ann"}, "mod-token": {UserID: 8, Handle: "mo", Admin: true}}

var authCases = []struct {
	name, header string
	status       int // of a Require'd handler
	admin        bool
}{
	{"no header", "", 401, false},
	{"user", "Bearer user-token", 200, false},
	{"scheme is case-insensitive", "bearer user-token", 200, false},
	{"admin", "Bearer admin-secret-token", 200, true},
	{"admin user", "Bearer mod-token", 200, true},
	{"unknown token", "Bearer nope", 401, false},
	{"basic", "Basic dXNlcjpwdw==", 401, false},
	{"empty token", "Bearer ", 401, false},
	{"no space", "Beareruser-token", 401, false},
}

func TestMiddleware(t *testing.T) {
	a := NewAuthenticator(testUsers, "admin-secret-token", nil)
	h := a.Middleware(handlerOf(Require(func(w http.ResponseWriter, r *http.Request) error {
		p, _ := FromContext(r.Context())
		if p.Admin {
			w.Header().Set("X-Admin", "1")
		}
		if p != testUsers["user-token"] && p != testUsers["mod-token"] && p != (Principal{Admin: true}) {
			t.Errorf("principal %+v", p)
		}
		return nil
	})))
	for _, tc := range authCases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r := httptest.NewRequest("GET", "/", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			h.ServeHTTP(rec, r)
			if rec.Code != tc.status || (rec.Header().Get("X-Admin") == "1") != tc.admin {
				t.Fatalf("status %d admin %q, want %d %v: %s", rec.Code, rec.Header().Get("X-Admin"), tc.status, tc.admin, rec.Body)
			}
			if tc.status == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
}

func TestRequireAdmin(t *testing.T) {
	a := NewAuthenticator(testUsers, "admin-secret-token", nil)
	h := a.Middleware(handlerOf(RequireAdmin(func(w http.ResponseWriter, r *http.Request) error { return nil })))
	for header, want := range map[string]int{"": 401, "Bearer user-token": 403, "Bearer admin-secret-token": 200, "Bearer mod-token": 200} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest("DELETE", "/", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		h.ServeHTTP(rec, r)
		if rec.Code != want {
			t.Errorf("%q: status %d, want %d", header, rec.Code, want)
		}
	}
}

func FuzzAuthorizationHeader(f *testing.F) {
	for _, tc := range authCases {
		f.Add(tc.header)
	}
	a := NewAuthenticator(testUsers, "admin-secret-token", nil)
	f.Fuzz(func(t *testing.T, header string) {
		p, err := a.resolve(context.Background(), header)
		if err != nil {
			return
		}
		_, tok, _ := strings.Cut(header, " ")
		tok = strings.TrimSpace(tok)
		if !(p == Principal{Admin: true} && tok == "admin-secret-token") && !(p == testUsers[tok]) {
			t.Fatalf("header %q resolved to %+v", header, p)
		}
	})
}

func handlerOf(h apierr.HandlerFunc) http.Handler { return apierr.Handler(nil, h) }

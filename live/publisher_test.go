package live

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/live/livetest"
)

// users are the test's creators: token → principal.
var users = map[string]auth.Principal{
	"token-alice": {UserID: 1, Handle: "alice"},
	"token-bob":   {UserID: 2, Handle: "bob"},
	"token-carol": {UserID: 3, Handle: "carol"},
}

type tokenUsers struct{}

func (tokenUsers) UserByToken(_ context.Context, hash []byte) (auth.Principal, error) {
	for tok, p := range users {
		if bytes.Equal(auth.HashToken(tok), hash) {
			return p, nil
		}
	}
	return auth.Principal{}, auth.ErrUnknownToken
}

var (
	testClip     = livetest.TestClip
	newPublisher = livetest.NewPublisher
)

func whip(t *testing.T, url, token, contentType, offer string) (*http.Response, string) {
	t.Helper()
	return livetest.WHIP(t, url, token, contentType, offer)
}

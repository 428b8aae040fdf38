package main

import (
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/reelay/reelay/feed"
	"github.com/reelay/reelay/internal/openapitest"
)

// openAPI is the validator of the feed's OpenAPI document, loaded once for all the tests.
var openAPI = sync.OnceValues(func() (*openapitest.Validator, error) { return openapitest.New(feed.OpenAPI()) })

// checkOpenAPI fails t unless the exchange of req and resp (whose body was b) agrees with the
// API's OpenAPI document: the JSON API of the running system, as the feed's own tests hold
// theirs. doJSON calls it.
func checkOpenAPI(t *testing.T, req *http.Request, resp *http.Response, b []byte) {
	t.Helper()
	v, err := openAPI()
	if err != nil {
		t.Fatalf("the OpenAPI document: %v", err)
	}
	var body []byte
	if req.GetBody != nil {
		rc, err := req.GetBody()
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(rc)
	}
	if err := v.Check(req, body, resp.StatusCode, resp.Header, b); err != nil {
		t.Errorf("OpenAPI: %v", err)
	}
}

// Package openapitest holds the HTTP exchanges of an API's tests against the API's OpenAPI
// document (github.com/getkin/kin-openapi), so that the document cannot drift from the code: a
// route the document lacks, a response it does not describe, or a request it refuses that the
// server accepted, fails the test that made it. It is for tests only.
package openapitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Validator checks HTTP exchanges against one OpenAPI document. It is safe for concurrent use.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
}

// imageTypes are the image media types that request and response bodies may have: their bodies
// are checked as strings of bytes.
var imageTypes = []string{"image/jpeg", "image/png", "image/webp"}

// registerDecoders teaches openapi3filter, once, the bodies it does not know.
var registerDecoders = sync.OnceFunc(func() {
	for _, t := range imageTypes {
		openapi3filter.RegisterBodyDecoder(t, openapi3filter.FileBodyDecoder)
	}
})

// New loads and validates the OpenAPI document doc (JSON or YAML, without external references).
func New(doc []byte) (*Validator, error) {
	registerDecoders()
	loader := openapi3.NewLoader()
	t, err := loader.LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("openapitest: loading the document: %w", err)
	}
	if err := t.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapitest: the document is not valid: %w", err)
	}
	router, err := gorillamux.NewRouter(t)
	if err != nil {
		return nil, fmt.Errorf("openapitest: routing the document: %w", err)
	}
	return &Validator{doc: t, router: router}, nil
}

// Doc returns the document, as loaded.
func (v *Validator) Doc() *openapi3.T { return v.doc }

// Operations returns the document's operations as "METHOD /path" (the path templated as the
// document has it), sorted.
func (v *Validator) Operations() []string {
	var ops []string
	for path, item := range v.doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

// Check returns how an exchange disagrees with the document, or nil if it agrees: req as sent
// (its body is not read: reqBody is the body), and the status, header and body of its response.
//
// A request that the document refuses (a bad parameter or body) agrees with it only when the
// server refused it too, with a 4xx that the document describes: that lets tests send the bad
// requests that the server must turn away, and checks that it does. Security requirements are
// not checked: the tests check authorisation themselves.
func (v *Validator) Check(req *http.Request, reqBody []byte, status int, header http.Header, body []byte) error {
	r := req.Clone(context.Background())
	r.Body = http.NoBody
	if len(reqBody) > 0 {
		r.Body = readCloser{bytes.NewReader(reqBody)}
		r.ContentLength = int64(len(reqBody))
	}
	route, params, err := v.router.FindRoute(r)
	if err != nil {
		return fmt.Errorf("%s %s: no operation in the OpenAPI document: %w", req.Method, req.URL.Path, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route, Options: opts}
	var errs []error
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil && (status < 400 || status > 499) {
		errs = append(errs, fmt.Errorf("the request does not agree with the document, yet the server answered %d: %w", status, err))
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: status, Header: header, Options: opts}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		errs = append(errs, fmt.Errorf("the response (%d %s) does not agree with the document: %w", status, abbrev(body), err))
	} else if r := described(route.Operation, status); r != nil && len(r.Content) == 0 && len(bytes.TrimSpace(body)) > 0 {
		// openapi3filter lets any body through where the document describes none.
		errs = append(errs, fmt.Errorf("the response (%d %s) has a body, which the document does not describe", status, abbrev(body)))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, errors.Join(errs...))
	}
	return nil
}

// described returns the response that op describes for status, or nil.
func described(op *openapi3.Operation, status int) *openapi3.Response {
	if op == nil || op.Responses == nil {
		return nil
	}
	r := op.Responses.Status(status)
	if r == nil {
		r = op.Responses.Default()
	}
	if r == nil {
		return nil
	}
	return r.Value
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// abbrev returns b for an error message, cut short.
func abbrev(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

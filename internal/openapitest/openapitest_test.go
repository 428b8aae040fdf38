package openapitest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// doc is an OpenAPI 3.1 document of one operation, whose answer's fields show what
// kin-openapi makes of the forms of 3.1 the API's document uses, and of those it avoids.
const doc = `{"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/x/{id}": {
	"parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[a-z]+$"}}],
	"put": {
		"requestBody": {"required": true, "content": {"image/png": {"schema": {"type": "string", "contentMediaType": "image/png"}}}},
		"responses": {"404": {"description": "no such thing"}, "200": {"description": "d", "content": {"application/json": {"schema": {
			"type": "object", "additionalProperties": false, "properties": {
				"nullable30": {"type": "string", "nullable": true},
				"typeArray": {"type": ["string", "null"]},
				"oneOfNull": {"oneOf": [{"type": "object"}, {"type": "null"}]},
				"time": {"type": "string", "format": "date-time"},
				"id": {"type": ["integer", "string"]},
				"yes": {"const": true}}}}}}}}}}}`

func TestCheck(t *testing.T) {
	v, err := New([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, contentType string
		status                  int
		body                    string
		ok                      bool
	}{
		{"fields that agree", "/x/a", "image/png", 200, `{"typeArray": "s", "oneOfNull": {}, "time": "2026-01-02T03:04:05.6Z", "id": 7, "yes": true}`, true},
		{"null by a type array", "/x/a", "image/png", 200, `{"typeArray": null}`, true},
		{"null by oneOf", "/x/a", "image/png", 200, `{"oneOfNull": null}`, true},
		{"an id as a string", "/x/a", "image/png", 200, `{"id": "7"}`, true},
		// OpenAPI 3.0's nullable is an unknown keyword in 3.1: it does not allow null.
		{"null by nullable", "/x/a", "image/png", 200, `{"nullable30": null}`, false},
		{"a time that is not one", "/x/a", "image/png", 200, `{"time": "yesterday"}`, false},
		{"a const broken", "/x/a", "image/png", 200, `{"yes": false}`, false},
		{"a field undescribed", "/x/a", "image/png", 200, `{"other": 1}`, false},
		{"a status undescribed", "/x/a", "image/png", 201, `{}`, false},
		{"a path parameter refused, and the request accepted", "/x/A", "image/png", 200, `{}`, false},
		{"a path parameter refused, and the request too", "/x/A", "image/png", 404, "", true},
		{"a body undescribed", "/x/A", "image/png", 404, `{"error": {}}`, false},
		{"a media type undescribed, and the request accepted", "/x/a", "image/gif", 200, `{}`, false},
		{"a path undescribed", "/y", "image/png", 200, `{}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("PUT", "http://api.test"+tc.path, nil)
			req.Header.Set("Content-Type", tc.contentType)
			err := v.Check(req, []byte("\x89PNG"), tc.status, http.Header{"Content-Type": {"application/json"}}, []byte(tc.body))
			if (err == nil) != tc.ok {
				t.Errorf("Check: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	for name, d := range map[string]string{
		"not JSON":                      `{`,
		"a type array under 3.0":        strings.Replace(doc, `"3.1.0"`, `"3.0.3"`, 1),
		"a reference to nothing":        strings.Replace(doc, `{"type": "object"}`, `{"$ref": "#/components/schemas/Nothing"}`, 1),
		"a path parameter not declared": strings.Replace(doc, `"/x/{id}"`, `"/x/{id}/{other}"`, 1),
	} {
		if _, err := New([]byte(d)); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

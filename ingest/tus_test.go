package ingest

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestOptions(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/reelay.db", Config{MaxSize: 1 << 20})
	for _, path := range []string{Path, "/v1/uploads", Path + videoid.New()} {
		// No token, and a Tus-Resumable the server must ignore.
		r := e.do("OPTIONS", path, "", nil, "Tus-Resumable", "0.2.2")
		want := map[string]string{
			"Tus-Version":            "1.0.0",
			"Tus-Extension":          "creation,creation-with-upload,creation-defer-length,termination,checksum,expiration",
			"Tus-Max-Size":           "1048576",
			"Tus-Checksum-Algorithm": "sha1,sha256",
		}
		if r.status != http.StatusNoContent {
			t.Errorf("OPTIONS %s: %d %s", path, r.status, r.body)
		}
		for k, v := range want {
			if r.get(k) != v {
				t.Errorf("OPTIONS %s: %s = %q, want %q", path, k, r.get(k), v)
			}
		}
	}

	// A CORS preflight, and a CORS request that must be able to read the tus headers.
	r := e.do("OPTIONS", Path, "", nil, "Origin", "https://app.example", "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "authorization,tus-resumable,upload-length,upload-metadata")
	if r.status != http.StatusNoContent || r.get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(r.get("Access-Control-Allow-Methods"), "PATCH") ||
		!strings.Contains(r.get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(r.get("Access-Control-Allow-Headers"), "Upload-Metadata") {
		t.Errorf("preflight: %d %v", r.status, r.header)
	}
	r = e.do("POST", Path, e.alice, nil, "Upload-Length", "5", "Origin", "https://app.example")
	expose := r.get("Access-Control-Expose-Headers")
	for _, h := range []string{"Location", "Upload-Offset", "Upload-Length", "Upload-Metadata", "Upload-Expires", "Tus-Resumable", "Tus-Version"} {
		if !strings.Contains(expose, h) {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", expose, h)
		}
	}
}

func TestUpload(t *testing.T) {
	forEachDB(t, Config{}, func(t *testing.T, e *env) {
		meta := "filename " + b64("cat.mp4") + ",filetype " + b64("video/mp4") + ",caption " + b64("My #Cat and #cat_2 on #Sofa") +
			",visibility " + b64("unlisted") + ",flag"
		before := time.Now()
		r := e.do("POST", Path, e.alice, nil, "Upload-Length", "11", "Upload-Metadata", meta)
		if r.status != http.StatusCreated {
			t.Fatalf("POST: %d %s", r.status, r.body)
		}
		loc := r.get("Location")
		if id := idOf(loc); loc != Path+id || !videoid.Valid(id) {
			t.Fatalf("Location = %q, want %s<id>", loc, Path)
		}
		if r.get("Tus-Resumable") != "1.0.0" {
			t.Errorf("POST: Tus-Resumable = %q", r.get("Tus-Resumable"))
		}
		exp, err := http.ParseTime(r.get("Upload-Expires"))
		if err != nil || exp.Before(before.Add(DefaultTTL).Truncate(time.Second)) || exp.After(time.Now().Add(DefaultTTL)) {
			t.Errorf("Upload-Expires = %q (%v), want about 24h from now", r.get("Upload-Expires"), err)
		}

		r = e.do("HEAD", loc, e.alice, nil)
		for k, v := range map[string]string{"Upload-Offset": "0", "Upload-Length": "11", "Upload-Metadata": meta,
			"Cache-Control": "no-store", "Tus-Resumable": "1.0.0", "Upload-Defer-Length": ""} {
			if r.get(k) != v {
				t.Errorf("HEAD: %s = %q, want %q", k, r.get(k), v)
			}
		}
		if r.status != http.StatusOK {
			t.Errorf("HEAD: %d", r.status)
		}

		if r := e.patch(loc, e.alice, 0, []byte("hello")); r.get("Upload-Expires") == "" || r.get("Tus-Resumable") != "1.0.0" {
			t.Errorf("PATCH of an unfinished upload: Upload-Expires %q, Tus-Resumable %q", r.get("Upload-Expires"), r.get("Tus-Resumable"))
		}
		if got := e.offset(loc, e.alice); got != "5" {
			t.Errorf("HEAD after 5 bytes: offset %s", got)
		}
		if r := e.patch(loc, e.alice, 5, []byte(" world")); r.get("Upload-Expires") != "" {
			t.Errorf("PATCH that finishes: Upload-Expires = %q, want none", r.get("Upload-Expires"))
		}
		if got := e.offset(loc, e.alice); got != "11" {
			t.Errorf("HEAD when finished: offset %s", got)
		}
		// Once finished, a PATCH at the end changes nothing.
		e.patch(loc, e.alice, 11, nil)

		ups, hashes := e.completed.waitCalls(t, 1)
		if len(ups) != 1 {
			t.Fatalf("handed over %d times, want 1", len(ups))
		}
		u := ups[0]
		if u.ID != idOf(loc) || u.Owner != e.aliceID || u.Size != 11 || u.Path != e.staged(loc) || u.Filename != "cat.mp4" ||
			u.Filetype != "video/mp4" || u.Caption != "My #Cat and #cat_2 on #Sofa" || u.Visibility != video.Unlisted ||
			u.Metadata["flag"] != "" || len(u.Metadata) != 5 || u.CreatedAt.IsZero() {
			t.Errorf("handed over %+v", u)
		}
		if want := bytesSHA256([]byte("hello world")); hashes[0] != want {
			t.Errorf("staged file at hand-over: sha256 %s, want %s", hashes[0], want)
		}
		e.waitState(loc, stateComplete)
		e.waitStagedGone(loc) // the hand-over removes the staged bytes; the upload still answers
		if got := e.offset(loc, e.alice); got != "11" {
			t.Errorf("HEAD after the hand-over: offset %s", got)
		}
	})
}

// TestStatusCodes sends bad requests against an upload of 10 bytes at offset 0, and checks
// the answers and that none of them changed the upload.
func TestStatusCodes(t *testing.T) {
	forEachDB(t, Config{MaxSize: 1000}, func(t *testing.T, e *env) {
		loc := e.create(e.alice, 10)
		id := idOf(loc)
		sha1Of := func(s string) string { h := sha1.Sum([]byte(s)); return base64.StdEncoding.EncodeToString(h[:]) }
		// An upload with 3 of its 10 bytes, for a client whose offset is behind the server's.
		begun := e.create(e.alice, 10)
		if r := e.patch(begun, e.alice, 0, []byte("abc")); r.status != http.StatusNoContent {
			t.Fatalf("first chunk: %d %s", r.status, r.body)
		}
		for _, tc := range []struct {
			name    string
			method  string
			path    string // "" for the upload
			token   string
			body    any
			headers []string
			status  int
			code    string
		}{
			{"no token", "HEAD", "", "", nil, nil, 401, "unauthenticated"},
			{"no token to create", "POST", Path, "", nil, []string{"Upload-Length", "5"}, 401, "unauthenticated"},
			{"bad token", "HEAD", "", "nope", nil, nil, 401, "invalid_token"},
			{"other user's upload", "HEAD", "", e.bob, nil, nil, 404, "upload_not_found"},
			{"other user's PATCH", "PATCH", "", e.bob, "x", []string{"Upload-Offset", "0"}, 404, "upload_not_found"},
			{"other user's DELETE", "DELETE", "", e.bob, nil, nil, 404, "upload_not_found"},
			{"admin sees no upload", "HEAD", "", adminToken, nil, nil, 404, "upload_not_found"},
			{"admin cannot create", "POST", Path, adminToken, nil, []string{"Upload-Length", "5"}, 403, "forbidden"},
			{"unknown id", "HEAD", Path + videoid.New(), e.alice, nil, nil, 404, "upload_not_found"},
			{"malformed id", "HEAD", Path + "NOT-AN-ID", e.alice, nil, nil, 404, "upload_not_found"},
			{"nested path", "HEAD", Path + id + "/x", e.alice, nil, nil, 404, "upload_not_found"},
			{"GET", "GET", "", e.alice, nil, nil, 405, "method_not_allowed"},
			{"GET collection", "GET", Path, e.alice, nil, nil, 405, "method_not_allowed"},
			{"old version", "PATCH", "", e.alice, "x", []string{"Upload-Offset", "0", "Tus-Resumable", "0.2.2"}, 412, "unsupported_version"},
			{"no version", "POST", Path, e.alice, nil, []string{"Upload-Length", "5", "Tus-Resumable", ""}, 412, "unsupported_version"},
			{"new version on HEAD", "HEAD", "", e.alice, nil, []string{"Tus-Resumable", "2.0.0"}, 412, "unsupported_version"},
			{"no length", "POST", Path, e.alice, nil, nil, 400, "invalid_header"},
			{"length and deferral", "POST", Path, e.alice, nil, []string{"Upload-Length", "5", "Upload-Defer-Length", "1"}, 400, "invalid_header"},
			{"deferral not 1", "POST", Path, e.alice, nil, []string{"Upload-Defer-Length", "2"}, 400, "invalid_header"},
			{"negative length", "POST", Path, e.alice, nil, []string{"Upload-Length", "-1"}, 400, "invalid_header"},
			{"signed length", "POST", Path, e.alice, nil, []string{"Upload-Length", "+5"}, 400, "invalid_header"},
			{"float length", "POST", Path, e.alice, nil, []string{"Upload-Length", "1e3"}, 400, "invalid_header"},
			{"huge length", "POST", Path, e.alice, nil, []string{"Upload-Length", "99999999999999999999"}, 400, "invalid_header"},
			{"above max size", "POST", Path, e.alice, nil, []string{"Upload-Length", "1001"}, 413, "upload_too_large"},
			{"body above length", "POST", Path, e.alice, "123456", []string{"Upload-Length", "5"}, 413, "upload_too_large"},
			{"duplicate metadata key", "POST", Path, e.alice, nil, []string{"Upload-Length", "5", "Upload-Metadata", "a " + b64("x") + ",a " + b64("y")}, 400, "invalid_header"},
			{"bad base64 metadata", "POST", Path, e.alice, nil, []string{"Upload-Length", "5", "Upload-Metadata", "filename ???"}, 400, "invalid_header"},
			{"bad visibility", "POST", Path, e.alice, nil, []string{"Upload-Length", "5", "Upload-Metadata", "visibility " + b64("friends")}, 400, "invalid_metadata"},
			{"control character in filename", "POST", Path, e.alice, nil, []string{"Upload-Length", "5", "Upload-Metadata", "filename " + b64("a\x00b")}, 400, "invalid_metadata"},
			{"bad method override", "POST", "", e.alice, nil, []string{"X-HTTP-Method-Override", "PUT"}, 400, "invalid_header"},
			{"wrong content type", "PATCH", "", e.alice, "x", []string{"Upload-Offset", "0", "Content-Type", "application/octet-stream"}, 415, "unsupported_media_type"},
			{"no content type", "PATCH", "", e.alice, "x", []string{"Upload-Offset", "0", "Content-Type", ""}, 415, "unsupported_media_type"},
			{"no offset", "PATCH", "", e.alice, "x", nil, 400, "invalid_header"},
			{"bad offset", "PATCH", "", e.alice, "x", []string{"Upload-Offset", "zero"}, 400, "invalid_header"},
			{"negative offset", "PATCH", "", e.alice, "x", []string{"Upload-Offset", "-1"}, 400, "invalid_header"},
			{"offset ahead", "PATCH", "", e.alice, "x", []string{"Upload-Offset", "3"}, 409, "offset_mismatch"},
			{"offset behind", "PATCH", begun, e.alice, "x", []string{"Upload-Offset", "1"}, 409, "offset_mismatch"},
			{"chunk past length", "PATCH", "", e.alice, "12345678901", []string{"Upload-Offset", "0"}, 413, "upload_too_large"},
			{"chunked body past length", "PATCH", "", e.alice, io.MultiReader(strings.NewReader("123456"), strings.NewReader("78901")), []string{"Upload-Offset", "0"}, 413, "upload_too_large"},
			{"length changed", "PATCH", "", e.alice, "x", []string{"Upload-Offset", "0", "Upload-Length", "11"}, 400, "invalid_header"},
			{"length above max", "PATCH", "", e.alice, "x", []string{"Upload-Offset", "0", "Upload-Length", "1001"}, 413, "upload_too_large"},
			{"unsupported checksum", "PATCH", "", e.alice, "x", []string{"Upload-Offset", "0", "Upload-Checksum", "md5 " + b64("0123456789abcdef")}, 400, "unsupported_checksum_algorithm"},
			{"malformed checksum", "PATCH", "", e.alice, "x", []string{"Upload-Offset", "0", "Upload-Checksum", "sha1"}, 400, "invalid_header"},
			{"short checksum", "PATCH", "", e.alice, "x", []string{"Upload-Offset", "0", "Upload-Checksum", "sha1 " + b64("short")}, 400, "invalid_header"},
			{"checksum mismatch", "PATCH", "", e.alice, "hello", []string{"Upload-Offset", "0", "Upload-Checksum", "sha1 " + sha1Of("hellO")}, 460, "checksum_mismatch"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				path := tc.path
				if path == "" {
					path = loc
				}
				r := e.do(tc.method, path, tc.token, tc.body, tc.headers...)
				if r.status != tc.status || (tc.method != "HEAD" && r.errCode() != tc.code) {
					t.Errorf("%d %q (%s), want %d %q", r.status, r.errCode(), r.body, tc.status, tc.code)
				}
				if tc.method != "HEAD" && r.get("Content-Type") != "application/json" {
					t.Errorf("error body Content-Type %q, want application/json", r.get("Content-Type"))
				}
				if r.get("Tus-Resumable") != "1.0.0" && tc.code != "invalid_token" { // the middleware's answer
					t.Errorf("Tus-Resumable = %q", r.get("Tus-Resumable"))
				}
				if tc.status == 412 && r.get("Tus-Version") != "1.0.0" {
					t.Errorf("412 without Tus-Version")
				}
				if tc.status == 401 && r.get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
			})
		}
		if got := e.offset(loc, e.alice); got != "0" {
			t.Errorf("after the bad requests, offset = %s, want 0", got)
		}
		if got := e.offset(begun, e.alice); got != "3" {
			t.Errorf("after a PATCH behind its offset, the begun upload's offset = %s, want 3", got)
		}
		if fi, err := os.Stat(e.staged(loc)); err != nil || fi.Size() != 0 {
			t.Errorf("after the bad requests, staged file: %v, %v", fi, err)
		}
		// A browser may HEAD without Tus-Resumable.
		if r := e.do("HEAD", loc, e.alice, nil, "Tus-Resumable", ""); r.status != http.StatusOK {
			t.Errorf("HEAD without Tus-Resumable: %d", r.status)
		}
	})
}

func TestChecksum(t *testing.T) {
	forEachDB(t, Config{}, func(t *testing.T, e *env) {
		loc := e.create(e.alice, 12)
		digest := func(alg, s string) string {
			var sum []byte
			if alg == "sha1" {
				h := sha1.Sum([]byte(s))
				sum = h[:]
			} else {
				h := sha256.Sum256([]byte(s))
				sum = h[:]
			}
			return alg + " " + base64.StdEncoding.EncodeToString(sum)
		}
		e.patch(loc, e.alice, 0, []byte("abcd"), "Upload-Checksum", digest("sha1", "abcd"))
		e.patch(loc, e.alice, 4, []byte("efgh"), "Upload-Checksum", digest("sha256", "efgh"))
		for _, alg := range []string{"sha1", "sha256"} {
			r := e.do("PATCH", loc, e.alice, "ijkl", "Upload-Offset", "8", "Upload-Checksum", digest(alg, "ijkX"))
			if r.status != 460 || r.errCode() != "checksum_mismatch" || r.get("Upload-Offset") != "8" {
				t.Errorf("%s mismatch: %d %q offset %q", alg, r.status, r.errCode(), r.get("Upload-Offset"))
			}
			if got := e.offset(loc, e.alice); got != "8" {
				t.Errorf("after a %s mismatch: offset %s, want 8", alg, got)
			}
			if fi, err := os.Stat(e.staged(loc)); err != nil || fi.Size() != 8 {
				t.Errorf("after a %s mismatch the chunk was kept: %v, %v", alg, fi.Size(), err)
			}
		}
		e.patch(loc, e.alice, 8, []byte("ijkl"), "Upload-Checksum", digest("sha256", "ijkl"))
		if got := e.handedOver(loc); got != bytesSHA256([]byte("abcdefghijkl")) {
			t.Errorf("staged file differs")
		}
	})
}

func TestCreationWithUpload(t *testing.T) {
	forEachDB(t, Config{}, func(t *testing.T, e *env) {
		// The whole file in the POST.
		r := e.do("POST", Path, e.alice, "all of it", "Upload-Length", "9")
		if r.status != http.StatusCreated || r.get("Upload-Offset") != "9" || r.get("Location") == "" || r.get("Upload-Expires") != "" {
			t.Fatalf("POST with the whole body: %d %v %s", r.status, r.header, r.body)
		}
		if ups, _ := e.completed.waitCalls(t, 1); len(ups) != 1 || ups[0].ID != idOf(r.get("Location")) {
			t.Fatalf("handed over: %+v", ups)
		}

		// A first chunk with a checksum, then the rest.
		sum := sha1.Sum([]byte("part"))
		r = e.do("POST", Path, e.alice, "part", "Upload-Length", "8", "Upload-Checksum", "sha1 "+base64.StdEncoding.EncodeToString(sum[:]))
		if r.status != http.StatusCreated || r.get("Upload-Offset") != "4" || r.get("Upload-Expires") == "" {
			t.Fatalf("POST with a first chunk: %d %v %s", r.status, r.header, r.body)
		}
		loc := r.get("Location")
		e.patch(loc, e.alice, 4, []byte("2of2"))
		if got := e.handedOver(loc); got != bytesSHA256([]byte("part2of2")) {
			t.Error("staged file differs")
		}

		// A chunk that fails its checksum leaves a created, empty upload.
		r = e.do("POST", Path, e.alice, "part", "Upload-Length", "8", "Upload-Checksum", "sha1 not-base64")
		if r.status != http.StatusBadRequest {
			t.Errorf("POST with a malformed checksum: %d %s", r.status, r.body)
		}
		other := sha1.Sum([]byte("other"))
		r = e.do("POST", Path, e.alice, "part", "Upload-Length", "8", "Upload-Checksum", "sha1 "+base64.StdEncoding.EncodeToString(other[:]))
		if r.status != 460 || r.get("Location") == "" || r.get("Upload-Offset") != "0" {
			t.Fatalf("POST with a bad first chunk: %d %v %s", r.status, r.header, r.body)
		}
		if got := e.offset(r.get("Location"), e.alice); got != "0" {
			t.Errorf("after a bad first chunk, offset %s", got)
		}

		// A body of another type is not a chunk.
		r = e.do("POST", Path, e.alice, "ignored", "Upload-Length", "8", "Content-Type", "text/plain")
		if r.status != http.StatusCreated || r.get("Upload-Offset") != "0" {
			t.Errorf("POST with a text body: %d %v", r.status, r.header)
		}

		// An empty upload is finished when created.
		r = e.do("POST", Path, e.alice, nil, "Upload-Length", "0")
		if r.status != http.StatusCreated || r.get("Upload-Offset") != "0" {
			t.Errorf("POST of an empty upload: %d %v", r.status, r.header)
		}
		if ups, _ := e.completed.waitCalls(t, 3); len(ups) != 3 || ups[2].Size != 0 {
			t.Errorf("handed over: %+v", ups)
		}
	})
}

func TestDeferLength(t *testing.T) {
	forEachDB(t, Config{MaxSize: 100}, func(t *testing.T, e *env) {
		loc := e.create(e.alice, -1)
		r := e.do("HEAD", loc, e.alice, nil)
		if r.get("Upload-Defer-Length") != "1" || r.get("Upload-Length") != "" || r.get("Upload-Offset") != "0" {
			t.Fatalf("HEAD of a deferred upload: %v", r.header)
		}
		e.patch(loc, e.alice, 0, []byte("abc"))
		if r := e.do("PATCH", loc, e.alice, "d", "Upload-Offset", "3", "Upload-Length", "2"); r.status != 400 {
			t.Errorf("length below the offset: %d", r.status)
		}
		// The maximum size bounds a deferred upload too.
		if r := e.do("PATCH", loc, e.alice, strings.Repeat("x", 98), "Upload-Offset", "3"); r.status != 413 {
			t.Errorf("deferred upload past the max size: %d", r.status)
		}
		e.patch(loc, e.alice, 3, []byte("def"))
		if ups, _ := e.completed.calls(); len(ups) != 0 {
			t.Fatal("finished without a length")
		}
		e.patch(loc, e.alice, 6, []byte("gh"), "Upload-Length", "8")
		r = e.do("HEAD", loc, e.alice, nil)
		if r.get("Upload-Length") != "8" || r.get("Upload-Defer-Length") != "" || r.get("Upload-Offset") != "8" {
			t.Errorf("HEAD after the length: %v", r.header)
		}
		if ups, _ := e.completed.waitCalls(t, 1); len(ups) != 1 || ups[0].Size != 8 {
			t.Errorf("handed over: %+v", ups)
		}

		// Declaring a length equal to what was sent finishes the upload.
		loc = e.create(e.alice, -1)
		e.patch(loc, e.alice, 0, []byte("xyz"))
		e.patch(loc, e.alice, 3, nil, "Upload-Length", "3")
		e.waitState(loc, stateComplete)
		if got := e.record(loc).State; got != stateComplete {
			t.Errorf("after declaring the length: state %s", got)
		}
	})
}

func TestTermination(t *testing.T) {
	forEachDB(t, Config{}, func(t *testing.T, e *env) {
		reg := prometheus.NewRegistry()
		e.cfg.Registerer = reg
		e.restart()
		loc := e.create(e.alice, 10)
		e.patch(loc, e.alice, 0, []byte("abc"))
		if r := e.do("DELETE", loc, e.alice, nil); r.status != http.StatusNoContent || r.get("Tus-Resumable") != "1.0.0" {
			t.Fatalf("DELETE: %d %s", r.status, r.body)
		}
		if _, err := os.Stat(e.staged(loc)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("staged file after DELETE: %v", err)
		}
		for _, m := range []string{"HEAD", "PATCH", "DELETE"} {
			if r := e.do(m, loc, e.alice, []byte{}, "Upload-Offset", "3"); r.status != http.StatusGone {
				t.Errorf("%s after DELETE: %d", m, r.status)
			}
		}
		if r := e.do("HEAD", loc, e.bob, nil); r.status != http.StatusNotFound {
			t.Errorf("HEAD of another's terminated upload: %d", r.status)
		}

		done := e.create(e.alice, 2)
		e.patch(done, e.alice, 0, []byte("ok"))
		if r := e.do("DELETE", done, e.alice, nil); r.status != http.StatusForbidden || r.errCode() != "upload_finished" {
			t.Errorf("DELETE of a finished upload: %d %s", r.status, r.body)
		}
		for name, want := range map[string]float64{
			"created": 2, "finished": 1, "terminated": 1, "bytes": 5,
		} {
			c := map[string]prometheus.Counter{"created": e.h.m.created, "finished": e.h.m.finished, "terminated": e.h.m.terminated, "bytes": e.h.m.bytes}[name]
			if got := counterValue(c); got != want {
				t.Errorf("metric %s = %v, want %v", name, got, want)
			}
		}
		if mfs, err := reg.Gather(); err != nil || len(mfs) != 9 {
			t.Errorf("registered metrics: %d, %v; want 9", len(mfs), err)
		}
	})
}

// TestExpiration checks, on the handler's clock, that Run expires an unfinished upload once
// its TTL has passed, and only then: the record turns into a tombstone, the staged bytes go,
// the expired metric counts it and requests for it answer 410. A finished upload stays.
func TestExpiration(t *testing.T) {
	forEachDB(t, Config{TTL: time.Hour, GCInterval: 20 * time.Millisecond}, func(t *testing.T, e *env) {
		// The clock is set before Run starts and moved by the test while Run reads it.
		var clock atomic.Pointer[time.Time]
		start := time.Now()
		at := func(d time.Duration) { now := start.Add(d); clock.Store(&now) }
		at(0)
		e.h.now = func() time.Time { return *clock.Load() }
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- e.h.Run(ctx) }()

		loc := e.create(e.alice, 10)
		e.patch(loc, e.alice, 0, []byte("abc"))
		finished := e.create(e.alice, 2)
		e.patch(finished, e.alice, 0, []byte("ok"))

		// A round of Run's work a minute before the TTL leaves the upload alone.
		at(time.Hour - time.Minute)
		e.h.collect(ctx)
		if got := e.record(loc).State; got != stateReceiving {
			t.Errorf("state a minute before the TTL: %s, want %s", got, stateReceiving)
		}
		if _, err := os.Stat(e.staged(loc)); err != nil {
			t.Errorf("staged file a minute before the TTL: %v", err)
		}

		// Past it, Run expires the upload on its own: the record turns into a tombstone, the
		// bytes go and the metric counts it, each in its time.
		at(time.Hour + time.Minute)
		waitFor(t, "the upload to expire", func() bool { return e.record(loc).State == stateExpired })
		e.waitStagedGone(loc)
		waitFor(t, "the expired metric to count it", func() bool { return counterValue(e.h.m.expired) >= 1 })
		for _, m := range []string{"HEAD", "PATCH"} {
			if r := e.do(m, loc, e.alice, []byte("d"), "Upload-Offset", "3"); r.status != http.StatusGone || (m != "HEAD" && r.errCode() != "upload_expired") {
				t.Errorf("%s of an expired upload: %d %s", m, r.status, r.body)
			}
		}
		// Finished uploads do not expire.
		if got := e.offset(finished, e.alice); got != "2" {
			t.Errorf("finished upload after the TTL: offset %s", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if got := counterValue(e.h.m.expired); got != 1 {
			t.Errorf("expired metric = %v, want 1", got)
		}
	})
}

// TestExpiredOnAccess checks that an upload past its expiry is gone before Run gets to it.
func TestExpiredOnAccess(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/reelay.db", Config{TTL: time.Hour})
	loc := e.create(e.alice, 10)
	e.h.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if r := e.do("PATCH", loc, e.alice, "abc", "Upload-Offset", "0"); r.status != http.StatusGone || r.errCode() != "upload_expired" {
		t.Errorf("PATCH after the expiry: %d %s", r.status, r.body)
	}
	if got := e.record(loc).State; got != stateExpired {
		t.Errorf("state = %s", got)
	}
}

// TestPatchMovesExpiry checks, on the handler's clock, that each PATCH moves an upload's
// expiry to one TTL after it: alive past the expiry it had at creation, gone one TTL after
// its last PATCH.
func TestPatchMovesExpiry(t *testing.T) {
	forEachDB(t, Config{TTL: time.Hour}, func(t *testing.T, e *env) {
		start := time.Now()
		at := func(d time.Duration) { e.h.now = func() time.Time { return start.Add(d) } }
		at(0)
		loc := e.create(e.alice, 10)
		at(50 * time.Minute)
		if r := e.patch(loc, e.alice, 0, []byte("abc")); r.status != http.StatusNoContent {
			t.Fatalf("PATCH 50 minutes in: %d %s", r.status, r.body)
		}
		at(70 * time.Minute) // past the creation's expiry, within the PATCH's
		if r := e.do("HEAD", loc, e.alice, nil); r.status != http.StatusOK || r.get("Upload-Offset") != "3" {
			t.Errorf("HEAD 20 minutes after the creation's expiry: %d, offset %q; want 200, 3", r.status, r.get("Upload-Offset"))
		}
		at(111 * time.Minute) // one TTL and a minute after the PATCH
		if r := e.do("HEAD", loc, e.alice, nil); r.status != http.StatusGone {
			t.Errorf("HEAD one TTL after the last PATCH: %d, want 410", r.status)
		}
	})
}

// TestLocation checks where an upload's Location points: at the configured public URL, else
// at the host that a trusted proxy forwards, else at the path alone, which the client resolves
// against its request; never at the request's Host header.
func TestLocation(t *testing.T) {
	// One creator makes an upload per case: more than the default quota allows at once.
	e := newEnv(t, "sqlite:"+t.TempDir()+"/reelay.db", Config{Quota: Quota{Unfinished: -1}})
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	forwarded := []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "cdn.example"}
	for _, tc := range []struct {
		name      string
		publicURL string
		trusted   []netip.Prefix
		headers   []string
		want      string // the Location's base: "" for none, a relative Location
	}{
		{"no proxy, no public URL", "", nil, nil, ""},
		{"Host header", "", nil, []string{"Host", "evil.example"}, ""},
		{"Host header from a trusted proxy", "", loopback, []string{"Host", "evil.example"}, ""},
		{"untrusted X-Forwarded", "", nil, forwarded, ""},
		{"untrusted Forwarded", "", nil, []string{"Forwarded", "proto=https;host=cdn.example"}, ""},
		{"other proxy", "", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, forwarded, ""},
		{"trusted X-Forwarded", "", loopback, forwarded, "https://cdn.example"},
		{"first of a list", "", loopback, []string{"X-Forwarded-Proto", "https, http", "X-Forwarded-Host", "a.example, b.example"}, "https://a.example"},
		{"trusted Forwarded", "", loopback, []string{"Forwarded", `for=192.0.2.1;proto=https;host="media.example:8443", for=10.0.0.1`,
			"X-Forwarded-Host", "ignored.example"}, "https://media.example:8443"},
		{"host without proto", "", loopback, []string{"X-Forwarded-Host", "cdn.example"}, "http://cdn.example"},
		{"proto only", "", loopback, []string{"X-Forwarded-Proto", "HTTPS", "Host", "evil.example"}, ""},
		{"bad values", "", loopback, []string{"X-Forwarded-Proto", "javascript", "X-Forwarded-Host", "evil.example/path?"}, ""},
		{"malformed Forwarded", "", loopback, []string{"Forwarded", `host="unterminated`, "X-Forwarded-Host", "fallback.example"}, "http://fallback.example"},
		{"public URL", "https://api.example", nil, []string{"Host", "evil.example"}, "https://api.example"},
		{"public URL over a trusted proxy", "https://api.example/", loopback, forwarded, "https://api.example"},
		{"public URL with a prefix", "https://example.com/reelay/", nil, nil, "https://example.com/reelay"},
		{"public URL with a port", "http://[2001:db8::1]:8080", nil, nil, "http://[2001:db8::1]:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e.cfg
			cfg.PublicURL = tc.publicURL
			cfg.TrustedProxies = tc.trusted
			cfg.Dir = t.TempDir()
			h, err := New(cfg, e.d, e.completed)
			if err != nil {
				t.Fatal(err)
			}
			srv := newServer(t, e, h)
			req, err := http.NewRequest("POST", srv.URL+Path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Tus-Resumable", "1.0.0")
			req.Header.Set("Authorization", "Bearer "+e.alice)
			req.Header.Set("Upload-Length", "1")
			for i := 0; i+1 < len(tc.headers); i += 2 {
				if tc.headers[i] == "Host" {
					req.Host = tc.headers[i+1]
				} else {
					req.Header.Set(tc.headers[i], tc.headers[i+1])
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusCreated || loc != tc.want+Path+idOf(loc) || !videoid.Valid(idOf(loc)) {
				t.Fatalf("Location = %q (%d), want %s%s<id>", loc, resp.StatusCode, tc.want, Path)
			}
			// The upload is where the Location says, resolved against the request's URL.
			if tc.want == "" {
				abs, err := req.URL.Parse(loc)
				if err != nil {
					t.Fatal(err)
				}
				if got := e.offset(abs.String(), e.alice); got != "0" {
					t.Errorf("HEAD %s: Upload-Offset %q", abs, got)
				}
			}
		})
	}
}

func TestMethodOverride(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/reelay.db", Config{})
	loc := e.create(e.alice, 3)
	r := e.do("POST", loc, e.alice, "abc", "X-HTTP-Method-Override", "PATCH", "Upload-Offset", "0")
	if r.status != http.StatusNoContent || r.get("Upload-Offset") != "3" {
		t.Fatalf("POST overridden to PATCH: %d %s", r.status, r.body)
	}
	loc = e.create(e.alice, 3)
	if r := e.do("POST", loc, e.alice, nil, "X-HTTP-Method-Override", "DELETE"); r.status != http.StatusNoContent {
		t.Fatalf("POST overridden to DELETE: %d %s", r.status, r.body)
	}
}

func TestPipelineErrors(t *testing.T) {
	forEachDB(t, Config{}, func(t *testing.T, e *env) {
		// A refusal: the client gets it, the bytes go, the upload answers 410 with it.
		e.completed.setErr(apierr.New(http.StatusUnprocessableEntity, "not_a_video", "the file holds no video stream"))
		loc := e.create(e.alice, 4)
		r := e.do("PATCH", loc, e.alice, "abcd", "Upload-Offset", "0")
		if r.status != http.StatusUnprocessableEntity || r.errCode() != "not_a_video" || r.get("Upload-Offset") != "4" {
			t.Fatalf("PATCH of a rejected upload: %d %s", r.status, r.body)
		}
		if _, err := os.Stat(e.staged(loc)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("staged file of a rejected upload: %v", err)
		}
		r = e.do("PATCH", loc, e.alice, []byte{}, "Upload-Offset", "4")
		if r.status != http.StatusGone || r.errCode() != "not_a_video" {
			t.Errorf("PATCH after the rejection: %d %s", r.status, r.body)
		}
		if r := e.do("HEAD", loc, e.alice, nil); r.status != http.StatusGone {
			t.Errorf("HEAD after the rejection: %d", r.status)
		}

		// Accept fails: 500, the upload stays finished, and Run tries again.
		e.completed.setErr(errors.New("database unavailable"))
		loc = e.create(e.alice, 4)
		if r := e.do("PATCH", loc, e.alice, "abcd", "Upload-Offset", "0"); r.status != http.StatusInternalServerError || r.errCode() != "internal" {
			t.Fatalf("PATCH when Accept fails: %d %s", r.status, r.body)
		}
		if got := e.record(loc).State; got != stateFinished {
			t.Fatalf("state after a failed Accept: %s", got)
		}
		if got := e.offset(loc, e.alice); got != "4" {
			t.Errorf("HEAD after a failed Accept: offset %s", got)
		}
		e.h.collect(t.Context()) // fails again
		if got := e.record(loc).State; got != stateFinished {
			t.Fatalf("state after a failed retry: %s", got)
		}
		e.completed.setErr(nil)
		e.h.collect(t.Context())
		if got := e.record(loc).State; got != stateComplete {
			t.Fatalf("state after a retry: %s", got)
		}
		ups, hashes := e.completed.calls()
		if n := len(ups); n != 1 || ups[0].ID != idOf(loc) || hashes[0] != bytesSHA256([]byte("abcd")) {
			t.Errorf("hand-overs: %d, %+v %v", n, ups, hashes)
		}
		// A 5xx *apierr.Error is answered as such and retried too.
		e.completed.setErr(apierr.New(http.StatusServiceUnavailable, "busy", "try later"))
		loc = e.create(e.alice, 1)
		if r := e.do("PATCH", loc, e.alice, "x", "Upload-Offset", "0"); r.status != http.StatusServiceUnavailable || r.errCode() != "busy" {
			t.Errorf("PATCH when Accept is busy: %d %s", r.status, r.body)
		}
		if got := e.record(loc).State; got != stateFinished {
			t.Errorf("state after a busy Accept: %s", got)
		}
		e.completed.setErr(nil)
		e.h.collect(t.Context())

		// HandOver fails after the client was answered: the upload stays finished, its bytes
		// stay staged, and Run hands it over again.
		e.completed.setHandOverErr(errors.New("store unavailable"))
		loc = e.create(e.alice, 3)
		if r := e.do("PATCH", loc, e.alice, "xyz", "Upload-Offset", "0"); r.status != http.StatusNoContent {
			t.Fatalf("PATCH when the hand-over will fail: %d %s", r.status, r.body)
		}
		e.completed.waitCalls(t, 3)
		if got := e.record(loc).State; got != stateFinished {
			t.Fatalf("state after a failed hand-over: %s", got)
		}
		if _, err := os.Stat(e.staged(loc)); err != nil {
			t.Fatalf("the staged file after a failed hand-over: %v", err)
		}
		e.completed.setHandOverErr(nil)
		e.h.collect(t.Context())
		if got := e.record(loc).State; got != stateComplete {
			t.Fatalf("state after the hand-over was retried: %s", got)
		}
		if _, err := os.Stat(e.staged(loc)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the staged file of a complete upload: %v", err)
		}
		if ups, hashes := e.completed.calls(); len(ups) != 4 || ups[3].ID != idOf(loc) || hashes[3] != bytesSHA256([]byte("xyz")) {
			t.Errorf("hand-overs: %+v %v", ups, hashes)
		}
	})
}

// TestRestart uploads half a file, crashes after writing more bytes than the database
// recorded, and resumes on a new handler over the same directory and database.
func TestRestart(t *testing.T) {
	forEachDB(t, Config{}, func(t *testing.T, e *env) {
		src := make([]byte, 3<<20+17)
		fillPattern(src, 7)
		loc := e.create(e.alice, int64(len(src)))
		half := int64(len(src) / 2)
		for off := int64(0); off < half; off += 256 << 10 {
			end := min(off+256<<10, half)
			e.patch(loc, e.alice, off, src[off:end])
		}
		e.close()

		// The crash: bytes that reached the file but not the database (here, junk).
		f, err := os.OpenFile(e.staged(loc), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(bytes.Repeat([]byte("junk"), 1000)); err != nil {
			t.Fatal(err)
		}
		f.Close()

		e.open()
		loc = Path + idOf(loc) // the new server listens on another port
		if got := e.offset(loc, e.alice); got != strconv.FormatInt(half, 10) {
			t.Fatalf("HEAD after the restart: offset %s, want %d", got, half)
		}
		e.patch(loc, e.alice, half, src[half:])
		// The pipeline hashed the staged file as it was handed over.
		if ups, hashes := e.completed.waitCalls(t, 1); len(ups) != 1 || hashes[0] != bytesSHA256(src) {
			t.Errorf("hand-overs: %d, hashes %v, want one of the source's %s", len(ups), hashes, bytesSHA256(src))
		}
	})
}

// TestRunRecovers checks Run's start: leftover files go, and an upload that finished just
// before a crash is handed over.
func TestRunRecovers(t *testing.T) {
	forEachDB(t, Config{}, func(t *testing.T, e *env) {
		live := e.create(e.alice, 10)
		e.patch(live, e.alice, 0, []byte("abc"))
		gone := e.create(e.alice, 10)
		if r := e.do("DELETE", gone, e.alice, nil); r.status != http.StatusNoContent {
			t.Fatal(r.status)
		}
		finished := e.create(e.alice, 2)
		e.completed.setErr(errors.New("crash"))
		e.do("PATCH", finished, e.alice, "ok", "Upload-Offset", "0")
		e.completed.setErr(nil)
		e.close()

		orphan := videoid.New()
		for _, id := range []string{orphan, idOf(gone)} {
			if err := os.WriteFile(e.cfg.Dir+"/"+id, []byte("left over"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(e.cfg.Dir+"/not-an-upload", nil, 0o600); err != nil {
			t.Fatal(err)
		}

		e.open()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- e.h.Run(ctx) }()
		waitFor(t, "the hand-over", func() bool { return e.record(finished).State == stateComplete })
		cancel()
		<-done
		for name, want := range map[string]bool{orphan: false, idOf(gone): false, idOf(live): true, "not-an-upload": true} {
			_, err := os.Stat(e.cfg.Dir + "/" + name)
			if exists := err == nil; exists != want {
				t.Errorf("%s exists = %v, want %v", name, exists, want)
			}
		}
	})
}

// TestRunStopsHandOvers stops Run while a hand-over is under way: Run returns once the
// hand-over has given up, the upload is left finished with its bytes, and the next Run hands
// it over.
func TestRunStopsHandOvers(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/reelay.db", Config{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.h.Run(ctx) }()
	e.completed.setStall(true)
	loc := e.create(e.alice, 3)
	if r := e.do("PATCH", loc, e.alice, "abc", "Upload-Offset", "0"); r.status != http.StatusNoContent {
		t.Fatalf("PATCH: %d %s", r.status, r.body)
	}
	if id := <-e.completed.stalled; id != idOf(loc) {
		t.Fatalf("stalled hand-over of %s, want %s", id, idOf(loc))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still running 10s after its context ended, with a hand-over under way")
	}
	select {
	case <-e.completed.unstalled:
	default:
		t.Fatal("Run returned before the hand-over under way had stopped")
	}
	if got := e.record(loc).State; got != stateFinished {
		t.Fatalf("state after a stopped hand-over: %s", got)
	}
	if _, err := os.Stat(e.staged(loc)); err != nil {
		t.Fatalf("the staged file after a stopped hand-over: %v", err)
	}

	e.close()
	e.completed.setStall(false)
	e.open()
	ctx, cancel = context.WithCancel(t.Context())
	go func() { done <- e.h.Run(ctx) }()
	e.waitState(Path+idOf(loc), stateComplete)
	cancel()
	<-done
	if got := e.handedOver(loc); got != bytesSHA256([]byte("abc")) {
		t.Errorf("handed over %q, want the bytes of abc", got)
	}
}

func TestNewValidates(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/reelay.db", Config{})
	for name, cfg := range map[string]Config{
		"no dir":                       {},
		"negative size":                {Dir: t.TempDir(), MaxSize: -1},
		"bad prefix":                   {Dir: t.TempDir(), TrustedProxies: []netip.Prefix{{}}},
		"relative public URL":          {Dir: t.TempDir(), PublicURL: "/v1"},
		"public URL with a query":      {Dir: t.TempDir(), PublicURL: "https://api.example?x=1"},
		"public URL with a user":       {Dir: t.TempDir(), PublicURL: "https://u:p@api.example"},
		"public URL of another scheme": {Dir: t.TempDir(), PublicURL: "ftp://api.example"},
		"file as dir":                  {Dir: e.staged(e.create(e.alice, 1))},
	} {
		if _, err := New(cfg, e.d, nil); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := New(Config{Dir: t.TempDir()}, nil, nil); err == nil {
		t.Error("New without a database succeeded")
	}
	h, err := New(Config{Dir: t.TempDir()}, e.d, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := h.cfg
	if c.MaxSize != 4<<30 || c.TTL != 24*time.Hour || c.GCInterval != time.Minute || c.Retention != 7*24*time.Hour ||
		c.ChunkIdleTimeout != 30*time.Second || c.AcceptTimeout != 2*time.Minute || c.HandOverTimeout != time.Hour || c.Logger == nil {
		t.Errorf("defaults: %+v", c)
	}
}

// fillPattern fills b with bytes that depend on their position and seed, no run repeating.
func fillPattern(b []byte, seed uint64) {
	x := seed*0x9E3779B97F4A7C15 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

package feed

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/reelay/reelay/internal/video"
	"github.com/reelay/reelay/internal/videoid"
	"github.com/reelay/reelay/storage"
)

// pngImage encodes a w×h PNG of one colour.
func pngImage(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 0x80
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// jpegImage encodes a w×h JPEG, red on its left half, blue on its right.
func jpegImage(t testing.TB, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{R: 255, A: 255}
			if x >= w/2 {
				c = color.RGBA{B: 255, A: 255}
			}
			img.Set(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// webpImage is a 64×48 red WebP, made with `ffmpeg -f lavfi -i color=red:s=64x48 -frames:v 1`
// (Go has no WebP encoder).
func webpImage(t testing.TB) []byte {
	b, err := os.ReadFile("testdata/red_64x48.webp")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// hugePNG is the start of a PNG whose header declares a w×h picture, without its pixels: a
// decoder that believed it would allocate w×h×4 bytes.
func hugePNG(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	chunk("IHDR", append(ihdr, 8, 6, 0, 0, 0)) // 8 bits, RGBA
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	return b.Bytes()
}

func TestAvatars(t *testing.T) {
	forEachWithStore(t, Config{AvatarMaxBytes: 256 << 10}, func(t *testing.T, s *Service, api *client, store storage.Store, _ *purges) {
		annToken, _ := api.signUp("ann")
		bobToken, _ := api.signUp("bob")
		put := func(token, ct string, body []byte) response {
			t.Helper()
			resp, b := api.raw("PUT", "/v1/me/avatar", token, ct, body, nil)
			r := response{status: resp.StatusCode, header: resp.Header}
			if err := jsonBody(b, &r.body); err != nil {
				t.Fatalf("PUT avatar: %v", err)
			}
			return r
		}
		var previous string
		for _, tc := range []struct {
			name, ct string
			body     []byte
		}{
			{"png", "image/png", pngImage(t, 300, 200)},
			{"jpeg", "image/jpeg", jpegImage(t, 200, 500)},
			{"webp", "image/webp", webpImage(t)},
			{"parameters of the type", "image/PNG; foo=bar", pngImage(t, 20, 20)},
		} {
			r := put(annToken, tc.ct, tc.body)
			url, _ := r.body["avatar_url"].(string)
			if r.status != 200 || !strings.HasPrefix(url, AvatarPath) || r.body["handle"] != "ann" {
				t.Errorf("%s: %d %v", tc.name, r.status, r.body)
				continue
			}
			resp, b := api.raw("GET", url, "", "", nil, nil)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" ||
				resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || resp.Header.Get("ETag") == "" {
				t.Errorf("%s: GET %s: %d %v", tc.name, url, resp.StatusCode, resp.Header)
				continue
			}
			img, err := jpeg.Decode(bytes.NewReader(b))
			if err != nil || img.Bounds() != image.Rect(0, 0, AvatarSize, AvatarSize) {
				t.Errorf("%s: the avatar is not a %d² JPEG: %v", tc.name, AvatarSize, err)
			}
			etag := resp.Header.Get("ETag")
			if resp, _ := api.raw("GET", url, "", "", nil, map[string]string{"If-None-Match": etag}); resp.StatusCode != 304 || resp.Header.Get("ETag") != etag {
				t.Errorf("%s: GET If-None-Match: %d %v", tc.name, resp.StatusCode, resp.Header)
			}
			if p := api.do("GET", "/v1/users/ann", "", ""); p.body["avatar_url"] != url {
				t.Errorf("%s: profile's avatar_url %v, want %s", tc.name, p.body["avatar_url"], url)
			}
			if previous != "" {
				if resp, _ := api.raw("GET", previous, "", "", nil, nil); resp.StatusCode != 404 {
					t.Errorf("%s: the previous avatar %s answers %d, want 404: not deleted", tc.name, previous, resp.StatusCode)
				}
			}
			previous = url
		}
		// The JPEG (200×500, red left, blue right) was cropped to its middle square: its
		// left edge is red, its right edge blue.
		{
			r := put(annToken, "image/jpeg", jpegImage(t, 200, 500))
			_, b := api.raw("GET", r.body["avatar_url"].(string), "", "", nil, nil)
			img, _ := jpeg.Decode(bytes.NewReader(b))
			if r, _, bl, _ := img.At(5, 128).RGBA(); r < 0xc000 || bl > 0x4000 {
				t.Errorf("the left edge is not red: %x %x", r, bl)
			}
			if r, _, bl, _ := img.At(250, 128).RGBA(); bl < 0xc000 || r > 0x4000 {
				t.Errorf("the right edge is not blue: %x %x", r, bl)
			}
		}

		for _, tc := range []struct {
			name, token, ct string
			body            []byte
			status          int
			code            string
		}{
			{"too many bytes", bobToken, "image/png", append(pngImage(t, 8, 8), make([]byte, 256<<10)...), 413, "body_too_large"},
			{"too wide", bobToken, "image/png", pngImage(t, 4097, 1), 422, "image_too_large"},
			{"a header declaring 100000²", bobToken, "image/png", hugePNG(100000, 100000), 422, "image_too_large"},
			{"a header declaring 0 wide", bobToken, "image/png", hugePNG(0, 10), 400, "invalid_image"},
			{"text", bobToken, "text/plain", []byte("hello"), 415, "unsupported_media_type"},
			{"gif", bobToken, "image/gif", []byte("GIF89a"), 415, "unsupported_media_type"},
			{"no type", bobToken, "", pngImage(t, 8, 8), 415, "unsupported_media_type"},
			{"junk", bobToken, "image/png", []byte("not a png at all"), 400, "invalid_image"},
			{"a JPEG sent as PNG", bobToken, "image/png", jpegImage(t, 8, 8), 400, "invalid_image"},
			{"a truncated JPEG", bobToken, "image/jpeg", jpegImage(t, 64, 64)[:200], 400, "invalid_image"},
			{"no token", "", "image/png", pngImage(t, 8, 8), 401, "unauthenticated"},
			{"the admin", "admin-token-for-tests", "image/png", pngImage(t, 8, 8), 403, "not_a_user"},
		} {
			if r := put(tc.token, tc.ct, tc.body); r.status != tc.status || r.errCode() != tc.code {
				t.Errorf("%s: %d %v, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
			}
		}
		if p := api.do("GET", "/v1/users/bob", "", ""); p.body["avatar_url"] != "" {
			t.Errorf("bob's refused uploads left an avatar: %v", p.body)
		}

		for _, name := range []string{"0123456789abcdef0123456789abcdef.jpg", "nope.jpg", "..", "0123456789ABCDEF0123456789ABCDEF.jpg"} {
			if resp, _ := api.raw("GET", AvatarPath+name, "", "", nil, nil); resp.StatusCode != 404 {
				t.Errorf("GET avatar %s: %d, want 404", name, resp.StatusCode)
			}
		}

		// Deleting it removes it from the profile and the store.
		url := api.do("GET", "/v1/users/ann", "", "").body["avatar_url"].(string)
		if r := api.do("DELETE", "/v1/me/avatar", annToken, ""); r.status != 204 {
			t.Fatalf("DELETE avatar: %d %v", r.status, r.body)
		}
		if p := api.do("GET", "/v1/users/ann", "", ""); p.body["avatar_url"] != "" {
			t.Errorf("after DELETE: %v", p.body)
		}
		if resp, _ := api.raw("GET", url, "", "", nil, nil); resp.StatusCode != 404 {
			t.Errorf("the deleted avatar answers %d", resp.StatusCode)
		}
		store.List(t.Context(), "avatars/", func(i storage.Info) error {
			t.Errorf("%s left in the store", i.Key)
			return nil
		})
		if r := api.do("DELETE", "/v1/me/avatar", annToken, ""); r.status != 204 {
			t.Errorf("DELETE again: %d %v", r.status, r.body)
		}
	})
}

// TestWithoutStore: without an object store, avatars and visibility changes to or from
// private, which need one, are answered 503; the rest works.
func TestWithoutStore(t *testing.T) {
	forEachService(t, Config{}, func(t *testing.T, s *Service, api *client) {
		token, ann := api.signUp("ann")
		resp, b := api.raw("PUT", "/v1/me/avatar", token, "image/png", pngImage(t, 8, 8), nil)
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "not_configured") {
			t.Errorf("PUT avatar without a store: %d %s", resp.StatusCode, b)
		}
		id := videoid.New()
		putVideo(t, s.db, id, ann, video.Ready, video.Public, "published_at = 1")
		for _, tc := range []struct {
			body   string
			status int
		}{{`{"visibility":"private"}`, 503}, {`{"visibility":"unlisted"}`, 200}, {`{"caption":"x"}`, 200}} {
			if r := api.do("PATCH", "/v1/videos/"+id, token, tc.body); r.status != tc.status {
				t.Errorf("PATCH %s without a store: %d %v, want %d", tc.body, r.status, r.body, tc.status)
			}
		}
		if r := api.do("DELETE", "/v1/videos/"+id, token, ""); r.status != 204 {
			t.Errorf("DELETE without a store: %d %v", r.status, r.body)
		}
	})
}

// FuzzDecodeAvatar: whatever the bytes, decodeAvatar does not panic, returns an image of
// the size its header declares within the limit, and never allocates for a picture larger
// than the limit.
func FuzzDecodeAvatar(f *testing.F) {
	types := []string{"image/jpeg", "image/png", "image/webp"}
	f.Add(jpegImage(f, 16, 8), uint8(0))
	f.Add(pngImage(f, 8, 16), uint8(1))
	f.Add(webpImage(f), uint8(2))
	f.Add(hugePNG(100000, 100000), uint8(1))
	f.Add(hugePNG(64, 64), uint8(1))
	f.Add([]byte("RIFF\xff\xff\xff\xffWEBPVP8 "), uint8(2))
	f.Add([]byte("\xff\xd8\xff\xc0\x00\x11\x08\xff\xff\xff\xff\x03"), uint8(0))
	f.Add([]byte("junk"), uint8(0))
	const maxSide = 128
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		img, err := decodeAvatar(b, types[int(which)%len(types)], maxSide)
		runtime.ReadMemStats(&after)
		// A maxSide² picture costs at most a few hundred KiB in any of the decoders.
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(b), grew)
		}
		if err != nil {
			return
		}
		if r := img.Bounds(); r.Dx() <= 0 || r.Dy() <= 0 || r.Dx() > maxSide || r.Dy() > maxSide {
			t.Fatalf("decoded an image of %v", r)
		}
		if _, err := thumbnail(img); err != nil {
			t.Fatal(err)
		}
	})
}

package feed

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"

	"github.com/reelay/reelay/db"
	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/auth"
	"github.com/reelay/reelay/internal/layout"
	"github.com/reelay/reelay/storage"
)

// An avatar is stored as a square JPEG of AvatarSize pixels a side.
const (
	// avatarDecodes is how many uploaded avatars are decoded at once.
	avatarDecodes = 2
	AvatarSize    = 256
	avatarQuality = 85
	// avatarCacheControl: an avatar's name is its content, so caches keep it for good.
	avatarCacheControl = "public, max-age=31536000, immutable"
)

// avatarFormats are the image types an avatar may be uploaded as, and how each is read.
var avatarFormats = map[string]struct {
	config func(io.Reader) (image.Config, error)
	decode func(io.Reader) (image.Image, error)
}{
	"image/jpeg": {jpeg.DecodeConfig, jpeg.Decode},
	"image/png":  {png.DecodeConfig, png.Decode},
	"image/webp": {webp.DecodeConfig, webp.Decode},
}

var (
	errStoreless  = apierr.New(http.StatusServiceUnavailable, "not_configured", "this server keeps no avatars: it has no object store")
	errAvatarType = apierr.New(http.StatusUnsupportedMediaType, "unsupported_media_type",
		"an avatar is an image/jpeg, image/png or image/webp body")
	errBadImage = apierr.New(http.StatusBadRequest, "invalid_image", "the body is not an image of its Content-Type")
	errNoAvatar = apierr.New(http.StatusNotFound, "not_found", "no such avatar")
)

// decodeAvatar reads an image of content type ct (one of avatarFormats) whose sides are at
// most maxSide pixels. It reads the dimensions from the header first and refuses a larger
// image before decoding anything, so that a small body declaring a huge picture costs no
// memory.
func decodeAvatar(b []byte, ct string, maxSide int) (image.Image, error) {
	f, ok := avatarFormats[ct]
	if !ok {
		return nil, errAvatarType
	}
	cfg, err := f.config(bytes.NewReader(b))
	if err != nil {
		return nil, errBadImage
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxSide || cfg.Height > maxSide {
		return nil, apierr.Errorf(http.StatusUnprocessableEntity, "image_too_large",
			"the image is %d×%d pixels; an avatar is at most %d pixels a side", cfg.Width, cfg.Height, maxSide)
	}
	img, err := f.decode(bytes.NewReader(b))
	if err != nil {
		return nil, errBadImage
	}
	if r := img.Bounds(); r.Dx() != cfg.Width || r.Dy() != cfg.Height {
		return nil, errBadImage // the decoder does not agree with the header
	}
	return img, nil
}

// thumbnail returns img's centred square, scaled to AvatarSize a side, as a JPEG.
func thumbnail(img image.Image) ([]byte, error) {
	r := img.Bounds()
	side := min(r.Dx(), r.Dy())
	x, y := r.Min.X+(r.Dx()-side)/2, r.Min.Y+(r.Dy()-side)/2
	dst := image.NewRGBA(image.Rect(0, 0, AvatarSize, AvatarSize))
	draw.CatmullRom.Scale(dst, dst.Bounds(), img, image.Rect(x, y, x+side, y+side), draw.Src, nil)
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: avatarQuality}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// avatarFile names the avatar b of user: the hash of its bytes and of the user, so that the
// same image is one object per user, and replacing or removing one user's avatar never
// removes another's.
func avatarFile(user int64, b []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "reelay avatar\x00%d\x00", user)
	h.Write(b)
	return layout.AvatarFile([32]byte(h.Sum(nil)))
}

// putAvatar answers PUT /v1/me/avatar, whose body is the image, with the profile.
func (s *Service) putAvatar(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context()) // a user's: see userOnly
	if s.cfg.Store == nil {
		return errStoreless
	}
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if _, ok := avatarFormats[ct]; err != nil || !ok {
		return errAvatarType
	}
	tooLarge := apierr.Errorf(http.StatusRequestEntityTooLarge, "body_too_large",
		"an avatar is at most %d bytes", s.cfg.AvatarMaxBytes)
	if r.ContentLength > s.cfg.AvatarMaxBytes {
		return tooLarge
	}
	if err := s.limitWrite(w, p); err != nil {
		return err
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.AvatarMaxBytes+1))
	var mbe *http.MaxBytesError
	if int64(len(b)) > s.cfg.AvatarMaxBytes || errors.As(err, &mbe) {
		return tooLarge
	}
	if err != nil {
		return &apierr.Error{Status: http.StatusBadRequest, Code: "invalid_body", Message: "the body could not be read", Err: err}
	}
	// A picture at the limit takes about 100 MiB to decode and scale: a few at a time.
	select {
	case s.avatarSlots <- struct{}{}:
	case <-r.Context().Done():
		return r.Context().Err()
	}
	img, err := decodeAvatar(b, ct, s.cfg.AvatarMaxPixels)
	var thumb []byte
	if err == nil {
		thumb, err = thumbnail(img)
	}
	<-s.avatarSlots
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return err
	}
	if err != nil {
		return fmt.Errorf("feed: avatar: %w", err)
	}
	key := layout.AvatarKey(avatarFile(p.UserID, thumb))
	if _, err := s.cfg.Store.Put(r.Context(), key, bytes.NewReader(thumb), int64(len(thumb)),
		storage.PutOptions{ContentType: "image/jpeg", CacheControl: avatarCacheControl}); err != nil {
		return fmt.Errorf("feed: storing an avatar: %w", err)
	}
	if err := s.setAvatar(r.Context(), p.UserID, key); err != nil {
		return err
	}
	out, err := s.profile(r.Context(), p, p.Handle)
	if err != nil {
		return err
	}
	apierr.WriteJSON(w, http.StatusOK, out)
	return nil
}

// deleteAvatar answers DELETE /v1/me/avatar: 204, whether there was one or not.
func (s *Service) deleteAvatar(w http.ResponseWriter, r *http.Request) error {
	p, _ := auth.FromContext(r.Context()) // a user's: see userOnly
	if s.cfg.Store == nil {
		return errStoreless
	}
	if err := s.limitWrite(w, p); err != nil {
		return err
	}
	if err := s.setAvatar(r.Context(), p.UserID, ""); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// setAvatar makes key (stored already; "" for none) user's avatar and deletes the previous
// one's object.
func (s *Service) setAvatar(ctx context.Context, user int64, key string) error {
	lock := ""
	if s.db.Dialect() == db.DialectPostgres {
		lock = " FOR UPDATE"
	}
	var old string
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT avatar FROM users WHERE id = $1`+lock, user).Scan(&old); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE users SET avatar = $2 WHERE id = $1`, user, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("feed: setting the avatar of %d: %w", user, err)
	}
	if old != "" && old != key {
		if err := s.cfg.Store.Delete(ctx, old); err != nil && !errors.Is(err, storage.ErrNotFound) {
			// Left behind: nothing names it any more.
			s.log.Warn("deleting a replaced avatar", "key", old, "err", err)
		}
	}
	return nil
}

// getAvatar answers GET /v1/avatars/{file} from the store, for caches to keep for good.
func (s *Service) getAvatar(w http.ResponseWriter, r *http.Request) error {
	file := r.PathValue("file")
	if !layout.ValidAvatarFile(file) || s.cfg.Store == nil {
		return errNoAvatar
	}
	body, info, err := s.cfg.Store.Get(r.Context(), layout.AvatarKey(file))
	if errors.Is(err, storage.ErrNotFound) {
		return errNoAvatar
	}
	if err != nil {
		return fmt.Errorf("feed: avatar %s: %w", file, err)
	}
	defer body.Close()
	h := w.Header()
	h.Set("ETag", info.ETag)
	h.Set("Cache-Control", avatarCacheControl)
	if etagMatch(r.Header.Get("If-None-Match"), info.ETag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", "image/jpeg")
	h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		io.Copy(w, body)
	}
	return nil
}

// etagMatch reports whether an If-None-Match header names etag (weakly compared) or is "*".
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || (t != "" && t == strings.TrimPrefix(etag, "W/")) {
			return true
		}
	}
	return false
}

package ingest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/video"
)

// Limits on what the Upload-Metadata header may carry.
const (
	maxMetadataBytes = 16 << 10 // the whole header
	maxFilenameBytes = 255
	maxFiletypeBytes = 255
	maxCaptionRunes  = 2200
)

func badHeader(name, format string, args ...any) error {
	return apierr.Errorf(http.StatusBadRequest, "invalid_header", name+": "+format, args...)
}

// parseSize parses an Upload-Offset or Upload-Length value: a plain decimal integer (digits
// only: no sign, no spaces) that fits in an int64.
func parseSize(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// checksum is a parsed Upload-Checksum header: the digest a chunk must have.
type checksum struct {
	alg string // "sha1" or "sha256"
	sum []byte
}

// checksumAlgorithms is the Tus-Checksum-Algorithm list, in order of preference.
const checksumAlgorithms = "sha1,sha256"

// parseChecksum parses an Upload-Checksum value, "<algorithm> <base64 digest>". An algorithm
// other than sha1 and sha256 is an error too (400, as the checksum extension says).
func parseChecksum(s string) (checksum, error) {
	alg, b64, ok := strings.Cut(s, " ")
	if !ok || alg == "" || b64 == "" {
		return checksum{}, badHeader("Upload-Checksum", "must be an algorithm and a base64 digest separated by a space")
	}
	c := checksum{alg: alg}
	h := c.newHash()
	if h == nil {
		return checksum{}, apierr.Errorf(http.StatusBadRequest, "unsupported_checksum_algorithm",
			"Upload-Checksum: the algorithm must be one of %s", checksumAlgorithms)
	}
	sum, err := base64.StdEncoding.Strict().DecodeString(b64)
	if err != nil || len(sum) != h.Size() || base64.StdEncoding.EncodeToString(sum) != b64 {
		return checksum{}, badHeader("Upload-Checksum", "the digest must be %d bytes in padded base64", h.Size())
	}
	c.sum = sum
	return c, nil
}

// newHash returns a hash for c's algorithm, or nil when it is not supported.
func (c checksum) newHash() hash.Hash {
	switch c.alg {
	case "sha1":
		return sha1.New()
	case "sha256":
		return sha256.New()
	}
	return nil
}

// parseMetadata parses an Upload-Metadata value: comma-separated pairs of a key and an
// optional base64 value, separated by a space. Keys are printable ASCII without spaces or
// commas and appear once; values are padded standard base64. Spaces around a pair are
// ignored; an empty header is no metadata.
func parseMetadata(s string) (map[string]string, error) {
	m := map[string]string{}
	if strings.Trim(s, " \t") == "" {
		return m, nil
	}
	if len(s) > maxMetadataBytes {
		return nil, badHeader("Upload-Metadata", "longer than %d bytes", maxMetadataBytes)
	}
	for pair := range strings.SplitSeq(s, ",") {
		key, val, _ := strings.Cut(strings.Trim(pair, " \t"), " ")
		if !validMetadataKey(key) {
			return nil, badHeader("Upload-Metadata", "a key must be 1 or more printable ASCII characters without spaces or commas")
		}
		if _, dup := m[key]; dup {
			return nil, badHeader("Upload-Metadata", "the key %q appears twice", key)
		}
		b, err := base64.StdEncoding.Strict().DecodeString(val)
		if err != nil || base64.StdEncoding.EncodeToString(b) != val {
			return nil, badHeader("Upload-Metadata", "the value of %q is not padded base64", key)
		}
		m[key] = string(b)
	}
	return m, nil
}

func validMetadataKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' || k[i] == ',' {
			return false
		}
	}
	return true
}

// details are the metadata keys this package knows, validated.
type details struct {
	filename, filetype, caption string
	visibility                  video.Visibility
}

func badMetadata(format string, args ...any) error {
	return apierr.Errorf(http.StatusBadRequest, "invalid_metadata", format, args...)
}

// parseDetails validates the known keys of m: filename, filetype, caption and visibility.
// Other keys are kept but not interpreted.
func parseDetails(m map[string]string) (details, error) {
	d := details{filename: m["filename"], filetype: m["filetype"], caption: m["caption"]}
	if len(d.filename) > maxFilenameBytes || !printableText(d.filename, false) {
		return details{}, badMetadata("filename must be at most %d bytes of UTF-8 text on one line", maxFilenameBytes)
	}
	if len(d.filetype) > maxFiletypeBytes || strings.ContainsFunc(d.filetype, func(r rune) bool { return r < ' ' || r > '~' }) {
		return details{}, badMetadata("filetype must be at most %d bytes of printable ASCII", maxFiletypeBytes)
	}
	if utf8.RuneCountInString(d.caption) > maxCaptionRunes || !printableText(d.caption, true) {
		return details{}, badMetadata("caption must be at most %d characters of UTF-8 text", maxCaptionRunes)
	}
	var ok bool
	if d.visibility, ok = video.ParseVisibility(m["visibility"]); !ok {
		return details{}, badMetadata("visibility must be %s, %s or %s", video.Public, video.Unlisted, video.Private)
	}
	return d, nil
}

// printableText reports whether s is valid UTF-8 without control characters, except line
// breaks and tabs when multiline.
func printableText(s string, multiline bool) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		if multiline && (r == '\n' || r == '\r' || r == '\t') {
			return false
		}
		return unicode.IsControl(r)
	})
}

package signedurl

import (
	"bytes"
	"strings"
)

// SignPlaylist returns playlist with query added to every URI it holds: the URI lines and the
// URI="..." attributes of its tags (EXT-X-MAP, EXT-X-MEDIA, EXT-X-I-FRAME-STREAM-INF). A
// player resolves them against the playlist's URL without its query, so without this the
// signature would stop at the first playlist. The edges and the origin answer the signed
// playlists of private videos with it.
func SignPlaylist(playlist []byte, query string) []byte {
	var b bytes.Buffer
	b.Grow(len(playlist) + 64*bytes.Count(playlist, []byte("\n")))
	for line := range bytes.Lines(playlist) {
		body := bytes.TrimRight(line, "\r\n")
		eol := line[len(body):]
		trimmed := bytes.TrimSpace(body)
		switch {
		case len(trimmed) == 0:
			b.Write(line)
			continue
		case trimmed[0] != '#':
			b.Write(bytes.TrimRight(body, " \t"))
			b.WriteString(joinQuery(string(trimmed), query))
		default:
			rest := body
			for {
				i := bytes.Index(rest, []byte(`URI="`))
				if i < 0 {
					break
				}
				i += len(`URI="`)
				j := bytes.IndexByte(rest[i:], '"')
				if j < 0 {
					break
				}
				b.Write(rest[:i+j])
				b.WriteString(joinQuery(string(rest[i:i+j]), query))
				rest = rest[i+j:]
			}
			b.Write(rest)
		}
		b.Write(eol)
	}
	return b.Bytes()
}

// joinQuery returns what to append to uri to add query: "?query", or "&query" when uri has a
// query already.
func joinQuery(uri, query string) string {
	if strings.Contains(uri, "?") {
		return "&" + query
	}
	return "?" + query
}

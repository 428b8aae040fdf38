package origin

import (
	"net/url"
	"strings"

	"github.com/reelay/reelay/internal/hlspath"
)

// parsePath maps a request URL to the object it names (see hlspath.Parse). A path that was
// percent-encoded in any way names nothing: every byte of a valid path is unreserved.
func parsePath(u *url.URL) (hlspath.Object, bool) {
	if u.RawPath != "" || u.Opaque != "" || strings.Contains(u.EscapedPath(), "%") {
		return hlspath.Object{}, false
	}
	return hlspath.Parse(u.Path)
}

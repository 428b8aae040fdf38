package origin

import (
	"net/url"
	"strings"

	"github.com/reelay/reelay/internal/layout"
)

// parsePath maps a request URL to the object it names (see layout.Parse). A path that was
// percent-encoded in any way names nothing: every byte of a valid path is unreserved.
func parsePath(u *url.URL) (layout.Object, bool) {
	if u.RawPath != "" || u.Opaque != "" || strings.Contains(u.EscapedPath(), "%") {
		return layout.Object{}, false
	}
	return layout.Parse(u.Path)
}

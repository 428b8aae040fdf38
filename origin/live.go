package origin

import (
	"net/http"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/httpsem"
)

// serveLive answers GET, HEAD and OPTIONS of /v/live/{stream}/... from Config.Live, which
// answers with the live muxer's own headers: playlists "no-cache" (blocking reloads wait for
// the part they ask for), parts and segments cacheable, since their names are never reused.
func (o *Origin) serveLive(w http.ResponseWriter, r *http.Request) error {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		w.Header().Set("Allow", httpsem.CORSAllowMethods)
		w.WriteHeader(http.StatusNoContent)
		return nil
	default:
		w.Header().Set("Allow", httpsem.CORSAllowMethods)
		return apierr.Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s is not allowed; use GET or HEAD", r.Method)
	}
	o.cfg.Live.ServeHTTP(w, r)
	return nil
}

package feed

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/reelay/reelay/internal/apierr"
	"github.com/reelay/reelay/internal/httpsem"
)

// openAPIDoc is the OpenAPI 3.1 document of the whole /v1 JSON API, this service's routes and
// those it is growing: what mobile developers generate their clients from. The feed's API tests
// validate every request they send and every response they get against it (openapi_test.go),
// and check that every route Handler registers is in it.
//
//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI document of the API, the one GET /v1/openapi.json serves.
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

// serveOpenAPI answers GET /v1/openapi.json: the document, with an ETag to revalidate it by
// (Cache-Control: no-cache), since it changes with each release.
func serveOpenAPI() apierr.HandlerFunc {
	sum := sha256.Sum256(openAPIDoc)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("ETag", etag)
		if status := httpsem.ConditionsFrom(r.Header).Evaluate(etag, time.Time{}); status != 0 {
			w.WriteHeader(status)
			return nil
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Length", strconv.Itoa(len(openAPIDoc)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(openAPIDoc)
		}
		return nil
	}
}

// routes is the ServeMux of Handler, which remembers the patterns it was given: a test holds
// them against the OpenAPI document, so that no route goes undescribed.
type routes struct {
	*http.ServeMux
	patterns []string
}

func newRoutes() *routes { return &routes{ServeMux: http.NewServeMux()} }

// Handle registers h for pattern, as http.ServeMux.Handle does, and remembers pattern.
func (m *routes) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers f for pattern, as http.ServeMux.HandleFunc does, and remembers pattern.
func (m *routes) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

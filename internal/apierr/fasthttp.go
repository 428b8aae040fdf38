package apierr

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/valyala/fasthttp"
)

// WriteCtx answers a fasthttp request with err, as Write answers a net/http one.
func WriteCtx(ctx *fasthttp.RequestCtx, log *slog.Logger, err error) {
	status, b := answer(log, string(ctx.Method()), string(ctx.Path()), err)
	WriteJSONCtx(ctx, status, b)
}

// WriteJSONCtx answers a fasthttp request with v as JSON, as WriteJSON does for net/http.
func WriteJSONCtx(ctx *fasthttp.RequestCtx, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal server error"}}`)
	}
	ctx.SetContentType("application/json")
	ctx.Response.Header.Set("X-Content-Type-Options", "nosniff")
	ctx.SetStatusCode(status)
	ctx.Response.SetBodyRaw(append(b, '\n'))
}

package edge

import (
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/reelay/reelay/internal/httpsem"
	"github.com/reelay/reelay/web"
)

// servePage answers GET and HEAD of the operator dashboard, /dashboard, and of its assets under
// web.AssetsPath, with the headers that web.Handler sets on the API listener. The page itself
// is open: it asks for the admin token, and its data (GET /_edge/cluster) needs it.
func servePage(ctx *fasthttp.RequestCtx, p string) error {
	f, ok := web.Lookup(p)
	if !ok || p == "/" {
		return errNotFound
	}
	if !ctx.IsGet() && !ctx.IsHead() {
		return methodNotAllowed(ctx, "GET, HEAD")
	}
	h := &ctx.Response.Header
	h.Set("ETag", f.ETag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if strings.HasPrefix(f.ContentType, "text/html") {
		h.Set("Content-Security-Policy", web.ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
	}
	h.SetContentType(f.ContentType)
	conds := httpsem.Conditions{IfNoneMatch: string(ctx.Request.Header.Peek("If-None-Match"))}
	if status := conds.Evaluate(f.ETag, time.Time{}); status != 0 {
		ctx.SetStatusCode(status)
		return nil
	}
	if ctx.IsHead() {
		h.SetContentLength(len(f.Body))
		ctx.Response.SkipBody = true
		return nil
	}
	ctx.Response.SetBodyRaw(f.Body)
	return nil
}

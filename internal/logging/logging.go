// Package logging holds what reelay's log handlers share: a handler that writes each key of a
// line once.
package logging

import (
	"context"
	"log/slog"
	"slices"
)

// KeyOnce wraps a handler so that each line carries each key once. Tiers and the parts they
// build each add their own context (tier=pipeline, then tier=transcoder inside it): the
// innermost value of a key wins, and a key given with the message beats them all. It keeps
// the context itself and hands the wrapped handler whole records, so it is for handlers
// without groups (reelay uses none).
func KeyOnce(h slog.Handler) slog.Handler { return &keyOnce{h: h} }

type keyOnce struct {
	h     slog.Handler
	attrs []slog.Attr // the context, each key once, in the order first given
}

func (k *keyOnce) Enabled(ctx context.Context, l slog.Level) bool { return k.h.Enabled(ctx, l) }

func (k *keyOnce) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &keyOnce{h: k.h, attrs: merge(slices.Clone(k.attrs), attrs)}
}

func (k *keyOnce) WithGroup(name string) slog.Handler {
	return &keyOnce{h: k.h.WithGroup(name), attrs: k.attrs}
}

func (k *keyOnce) Handle(ctx context.Context, r slog.Record) error {
	own := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		own = append(own, a)
		return true
	})
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(merge(slices.Clone(k.attrs), own)...)
	return k.h.Handle(ctx, out)
}

// merge adds attrs to list, a later value of a key taking the place of an earlier one.
func merge(list, attrs []slog.Attr) []slog.Attr {
	for _, a := range attrs {
		if i := slices.IndexFunc(list, func(b slog.Attr) bool { return b.Key == a.Key }); i >= 0 {
			list[i] = a
		} else {
			list = append(list, a)
		}
	}
	return list
}

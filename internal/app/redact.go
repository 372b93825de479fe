package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"switchyard/internal/auth"
)

// redactHandler cuts every client key secret (sk-sy-…) in a log record
// down to its display prefix, whatever attribute it hides in: a request
// path, an error, a message. It is the last line of defence: code logs
// no secret on purpose, but a client may put one in a URL, and an error
// may quote one.
type redactHandler struct{ next slog.Handler }

func redacting(l *slog.Logger) *slog.Logger { return slog.New(redactHandler{l.Handler()}) }

func (h redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h redactHandler) Handle(ctx context.Context, r slog.Record) error {
	dirty := strings.Contains(r.Message, auth.KeyPrefix)
	r.Attrs(func(a slog.Attr) bool {
		dirty = dirty || hasKey(a.Value)
		return !dirty
	})
	if !dirty {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, auth.RedactKeys(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h redactHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = redactAttr(a)
	}
	return redactHandler{h.next.WithAttrs(out)}
}

func (h redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{h.next.WithGroup(name)}
}

// text returns the text a value is logged as, when it may hold a secret.
func text(v slog.Value) (string, bool) {
	switch v.Kind() {
	case slog.KindString:
		return v.String(), true
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return x.Error(), true
		case fmt.Stringer:
			return x.String(), true
		case string:
			return x, true
		}
	}
	return "", false
}

func hasKey(v slog.Value) bool {
	v = v.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, a := range v.Group() {
			if hasKey(a.Value) {
				return true
			}
		}
		return false
	}
	s, ok := text(v)
	return ok && strings.Contains(s, auth.KeyPrefix)
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, ga := range g {
			out[i] = redactAttr(ga)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	}
	if s, ok := text(v); ok && strings.Contains(s, auth.KeyPrefix) {
		return slog.String(a.Key, auth.RedactKeys(s))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

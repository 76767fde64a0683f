// Package logging writes the service's structured JSON logs and carries
// identifiers through a context.Context into every line logged with that
// context. The HTTP layer puts a request's id into the request's context and
// the worker a job's id and attempt into the job's; any line logged with
// such a context (the slog ...Context methods and LogAttrs), however deep in
// the call it is written, then carries them without each caller repeating
// them.
package logging

import (
	"context"
	"io"
	"log/slog"
	"slices"
)

type attrsKey struct{}

// With returns a context that carries attrs in addition to those ctx
// already carries. An attribute whose key ctx already carries replaces it.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev := Attrs(ctx)
	merged := make([]slog.Attr, 0, len(prev)+len(attrs))
	for _, p := range prev {
		if !hasKey(attrs, p.Key) {
			merged = append(merged, p)
		}
	}
	merged = append(merged, attrs...)
	return context.WithValue(ctx, attrsKey{}, merged)
}

// Attrs returns the attributes ctx carries (nil for none). The slice is
// shared: do not modify it.
func Attrs(ctx context.Context) []slog.Attr {
	if ctx == nil {
		return nil
	}
	a, _ := ctx.Value(attrsKey{}).([]slog.Attr)
	return a
}

func hasKey(attrs []slog.Attr, key string) bool {
	for _, a := range attrs {
		if a.Key == key {
			return true
		}
	}
	return false
}

// New returns a logger that writes JSON lines at level and above to w, with
// the attributes of the context each line is logged with.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(Handler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})))
}

// Handler wraps next so that every record logged with a context gets the
// attributes the context carries. A key the record already has, or that the
// logger was given with With, is not repeated. Wrapping a handler this
// function returned gives it back unchanged, so packages may wrap whatever
// logger they are handed.
func Handler(next slog.Handler) slog.Handler {
	if h, ok := next.(*handler); ok {
		return h
	}
	return &handler{next: next}
}

type handler struct {
	next slog.Handler
	// keys were added with WithAttrs (outside any group): the context must
	// not add them again. A slice: loggers get a handful of attributes, and
	// the worker derives one per job.
	keys []string
}

// Enabled implements slog.Handler.
func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	if carried := Attrs(ctx); len(carried) > 0 {
		var present map[string]bool
		r.Attrs(func(a slog.Attr) bool {
			if present == nil {
				present = map[string]bool{}
			}
			present[a.Key] = true
			return true
		})
		for _, a := range carried {
			if !slices.Contains(h.keys, a.Key) && !present[a.Key] {
				r.AddAttrs(a)
			}
		}
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	keys := slices.Clip(h.keys) // appending copies: loggers derived from one never share additions
	for _, a := range attrs {
		keys = append(keys, a.Key)
	}
	return &handler{next: h.next.WithAttrs(attrs), keys: keys}
}

// WithGroup implements slog.Handler. The context's attributes of later
// records land inside the group, like every other attribute of theirs.
func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), keys: h.keys}
}

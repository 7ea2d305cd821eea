// Package quietlog keeps repeated identical warnings from flooding a log. A
// store outage makes every host warn about every partition each cycle: the
// first such warning says what happened, the next ones only how often.
package quietlog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Clock is what the handler measures intervals with (blobstore.Clock
// satisfies it).
type Clock interface{ Now() time.Time }

type sysClock struct{}

func (sysClock) Now() time.Time { return time.Now() }

// Handler passes records below slog.LevelWarn through. A warning (or an
// error) is passed the first time and then at most once per interval for
// the same level, message and values of the keys "partition", "key",
// "owner" and "group" (attributes given to the record, not those added with With); a
// warning passed after some were dropped carries "repeated", the number
// dropped since the last one passed. A dropped warning's own attributes
// (its err, say) are lost: the one passed carries its own.
type Handler struct {
	next  slog.Handler
	every time.Duration
	clock Clock
	state *state // shared by the handlers WithAttrs and WithGroup derive
}

type state struct {
	mu   sync.Mutex
	seen map[string]*entry
}

type entry struct {
	last    time.Time // when one was last passed
	dropped int
}

// maxEntries bounds the memory of what was seen: past it, entries older
// than the interval are forgotten.
const maxEntries = 4096

// New returns a handler over next that passes an identical warning at most
// once per every, measured with clock (nil: the system clock). every <= 0
// passes everything.
func New(next slog.Handler, every time.Duration, clock Clock) *Handler {
	if clock == nil {
		clock = sysClock{}
	}
	return &Handler{next: next, every: every, clock: clock, state: &state{seen: map[string]*entry{}}}
}

// Enabled reports whether the next handler handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle passes r on, or drops it as a repeat.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn || h.every <= 0 {
		return h.next.Handle(ctx, r)
	}
	key := r.Level.String() + "\x00" + r.Message
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "partition", "key", "owner", "group":
			key += "\x00" + a.Key + "=" + a.Value.String()
		}
		return true
	})
	now := h.clock.Now()
	st := h.state
	st.mu.Lock()
	e := st.seen[key]
	if e != nil && now.Sub(e.last) < h.every {
		e.dropped++
		st.mu.Unlock()
		return nil
	}
	if e == nil {
		if len(st.seen) >= maxEntries {
			for k, old := range st.seen {
				if now.Sub(old.last) >= h.every {
					delete(st.seen, k)
				}
			}
		}
		e = &entry{}
		st.seen[key] = e
	}
	dropped := e.dropped
	e.last, e.dropped = now, 0
	st.mu.Unlock()
	if dropped > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Int("repeated", dropped))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a handler whose records carry attrs, sharing h's
// memory of what was passed.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(attrs)
	return &c
}

// WithGroup returns a handler that groups later attributes under name,
// sharing h's memory of what was passed.
func (h *Handler) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

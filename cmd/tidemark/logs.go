package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
)

// The log on stderr: the store's warnings, watch's failed refreshes, the
// demo's hosts and, with --log-format json, the error a command ends with.
// Its keys are stable: err, key, partition, host, epoch, offset, counter,
// seen, command, exit_status (and those the processor package documents).
const (
	flagLogFormat = "log-format"
	flagLogLevel  = "log-level"

	logText = "text"
	logJSON = "json"
)

func addLogFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.String(flagLogFormat, logText, "format of the log on stderr: text, or json (one object per line, errors included)")
	pf.String(flagLogLevel, "warn", "least severe level logged: debug, info, warn or error")
}

type loggerKey struct{}

// setupLogger builds the logger the flags ask for and puts it in cmd's
// context: every command runs it as its PersistentPreRunE.
func setupLogger(cmd *cobra.Command, _ []string) error {
	format, _ := cmd.Flags().GetString(flagLogFormat)
	levelName, _ := cmd.Flags().GetString(flagLogLevel)
	if format != logText && format != logJSON {
		return usageErrorf("--log-format must be text or json, got %q", format)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(levelName)); err != nil {
		return usageErrorf("--log-level must be debug, info, warn or error, got %q", levelName)
	}
	log := newLogger(cmd.ErrOrStderr(), format, level, storeURLFrom(cmd))
	cmd.SetContext(context.WithValue(cmd.Context(), loggerKey{}, log))
	return nil
}

// newLogger returns a logger writing format to w from level up, every
// value scrubbed of credentials and control characters.
func newLogger(w io.Writer, format string, level slog.Level, storeURL string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == logJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(&scrubbing{next: h, storeURL: storeURL})
}

// logger returns the command's logger.
func logger(cmd *cobra.Command) *slog.Logger {
	if l, ok := cmd.Context().Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return newLogger(cmd.ErrOrStderr(), logText, slog.LevelWarn, storeURLFrom(cmd))
}

// jsonLog reports whether the command line asked for --log-format json.
func jsonLog(cmd *cobra.Command) bool {
	f := cmd.Flags().Lookup(flagLogFormat)
	return f != nil && f.Value.String() == logJSON
}

// logFailure logs the error a command ended with, as one JSON record.
func logFailure(cmd *cobra.Command, stderr io.Writer, line string, code int) {
	log := newLogger(stderr, logJSON, slog.LevelError, storeURLFrom(cmd))
	log.Error("command failed", "command", cmd.CommandPath(), "err", line, "exit_status", code)
}

// scrubbing passes records on with the message and every value scrubbed as
// the error line is: no credential, no control character reaches the log.
type scrubbing struct {
	next     slog.Handler
	storeURL string
}

func (h *scrubbing) scrub(s string) string { return escapeControls(scrubSecrets(s, h.storeURL)) }

func (h *scrubbing) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.scrub(v.String()))
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.scrub(trimPrefix(err.Error())))
		}
		return slog.String(a.Key, h.scrub(fmt.Sprint(v.Any())))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, x := range g {
			out[i] = h.attr(x)
		}
		return slog.Group(a.Key, out...)
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h *scrubbing) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *scrubbing) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.scrub(strings.TrimPrefix(r.Message, "tidemark: ")), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *scrubbing) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.attr(a)
	}
	return &scrubbing{next: h.next.WithAttrs(clean), storeURL: h.storeURL}
}

func (h *scrubbing) WithGroup(name string) slog.Handler {
	return &scrubbing{next: h.next.WithGroup(name), storeURL: h.storeURL}
}

package quietlog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) Now() time.Time { return c.t }

// lines decodes the JSON lines in buf.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		out = append(out, m)
	}
	buf.Reset()
	return out
}

func TestRepeatedWarningsAreDropped(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	log := slog.New(New(slog.NewJSONHandler(&buf, nil), time.Minute, c)).With("host", "a")
	for range 16 {
		log.Warn("claim failed", "partition", "3", "err", "timeout")
	}
	got := lines(t, &buf)
	if len(got) != 1 || got[0]["partition"] != "3" || got[0]["host"] != "a" || got[0]["repeated"] != nil {
		t.Fatalf("16 identical warnings within a minute gave %v, want the first alone", got)
	}
	// Another partition, another message, information and an error are
	// each their own.
	log.Warn("claim failed", "partition", "4", "err", "timeout")
	log.Warn("renew failed", "partition", "3", "err", "timeout")
	log.Info("partition taken", "partition", "3")
	log.Info("partition taken", "partition", "3")
	log.Error("claim failed", "partition", "3")
	if got := lines(t, &buf); len(got) != 5 {
		t.Fatalf("distinct warnings and information lines: %d passed, want 5: %v", len(got), got)
	}
	// A minute after the first, the next passes with the count dropped.
	c.t = c.t.Add(59 * time.Second)
	log.Warn("claim failed", "partition", "3", "err", "timeout")
	if got := lines(t, &buf); len(got) != 0 {
		t.Fatalf("passed before the minute was up: %v", got)
	}
	c.t = c.t.Add(time.Second)
	log.Warn("claim failed", "partition", "3", "err", "503")
	got = lines(t, &buf)
	if len(got) != 1 || got[0]["repeated"] != float64(16) || got[0]["err"] != "503" {
		t.Fatalf("after a minute: %v, want one line with repeated 16 and its own err", got)
	}
	// Handlers derived with With share what was seen.
	log.With("extra", 1).Warn("claim failed", "partition", "3")
	if got := lines(t, &buf); len(got) != 0 {
		t.Fatalf("a derived logger repeated a warning: %v", got)
	}
}

func TestZeroIntervalPassesEverything(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(New(slog.NewJSONHandler(&buf, nil), 0, nil))
	for range 3 {
		log.Warn("claim failed", "partition", "3")
	}
	if got := lines(t, &buf); len(got) != 3 {
		t.Fatalf("%d lines, want 3", len(got))
	}
}

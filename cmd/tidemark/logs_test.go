package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// jsonLines decodes stderr as JSON log records, one per line, and fails
// the test on any other line.
func jsonLines(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("stderr line %q is not JSON: %v", l, err)
		}
		if m["time"] == nil || m["level"] == nil || m["msg"] == nil {
			t.Fatalf("record %v lacks time, level or msg", m)
		}
		out = append(out, m)
	}
	return out
}

// With --log-format json, the error a command ends with is one JSON record
// with stable keys, scrubbed like the text line, and the exit status is
// the same.
func TestJSONLogFailure(t *testing.T) {
	ctx := testContext(t, time.Minute)
	u := newFileStoreURL(t) // not created
	r := tidemark(ctx, t, "ls", "--store", u, "--log-format", "json")
	if r.code != exitFailure || r.stdout != "" {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
	recs := jsonLines(t, r.stderr)
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1: %s", len(recs), r.stderr)
	}
	rec := recs[0]
	if rec["level"] != "ERROR" || rec["msg"] != "command failed" || rec["command"] != "tidemark ls" ||
		rec["exit_status"] != float64(exitFailure) || !strings.Contains(rec["err"].(string), "tidemark init") {
		t.Errorf("record %v", rec)
	}
	// The text format is the one line it always was.
	wantFail(t, tidemark(ctx, t, "ls", "--store", u), exitFailure, "tidemark init")
	for _, bad := range [][]string{{"--log-format", "xml"}, {"--log-level", "loud"}} {
		wantFail(t, tidemark(ctx, t, append([]string{"ls", "--store", u}, bad...)...), exitUsage, bad[0])
	}
}

// A demo's hosts log through the CLI's logger: with --log-format json
// --log-level info every line is a record, each naming its host, and a
// partition taken carries partition, epoch and offset. (The demo's own
// timing bounds are tight at these settings on a busy machine: a failed
// bound ends it with status 1 and a "command failed" record, which is a
// record too.)
func TestJSONLogDemo(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	store := fmt.Sprintf("mem://demo-log-%d", time.Now().UnixNano())
	r := tidemark(ctx, t, "demo", "--store", store, "--duration", "3s", "--lease", "300ms", "--renew", "100ms",
		"--hosts", "3", "--partitions", "4", "--log-format", "json", "--log-level", "info")
	if r.code != 0 && r.code != exitFailure {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	recs := jsonLines(t, r.stderr)
	if r.code == exitFailure {
		last := recs[len(recs)-1]
		if last["msg"] != "command failed" || !strings.Contains(fmt.Sprint(last["err"]), "invariant") {
			t.Fatalf("exit 1 without a command failed record: %v", last)
		}
		recs = recs[:len(recs)-1]
	}
	taken := 0
	for _, rec := range recs {
		if h, _ := rec["host"].(string); !strings.HasPrefix(h, "host-") {
			t.Errorf("record without its host: %v", rec)
		}
		if rec["msg"] == "partition taken" {
			taken++
			if rec["partition"] == nil || rec["epoch"] == nil || rec["offset"] == nil {
				t.Errorf("partition taken without partition, epoch or offset: %v", rec)
			}
		}
	}
	if taken < 4 {
		t.Errorf("%d partitions taken logged, want at least the 4 first claims:\n%s", taken, r.stderr)
	}
}

// The log never shows a credential or a raw control character, in the
// message, in a value or in an error.
func TestLogIsScrubbed(t *testing.T) {
	const pw = "pw-log-0451"
	u := "s3://ckpt?endpoint=http://minio:" + pw + "@host:9000&region=us-east-1"
	var buf bytes.Buffer
	log := newLogger(&buf, logJSON, slog.LevelInfo, u).With("url", u)
	log.Warn("tidemark: reading "+u+" failed\x1b[2J", "err", errors.New("get "+u+": \x1b]0;owned\x07"), "key", "k\u202e")
	rec := jsonLines(t, buf.String())[0]
	text := buf.String()
	if strings.Contains(text, pw) || strings.Contains(text, `\u001b`) || strings.Contains(text, "\u202e") {
		t.Fatalf("log not scrubbed: %s", text)
	}
	if !strings.HasPrefix(rec["msg"].(string), "reading s3://") || !strings.Contains(rec["err"].(string), `\x1b]0;owned\a`) {
		t.Errorf("record %v", rec)
	}
}

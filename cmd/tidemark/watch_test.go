package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestWatch(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	u := newFileStoreURL(t)
	seed(ctx, t, openTestStore(ctx, t, u, "setup"), 3)
	host, _ := hold(ctx, t, u, "host-a", "1")
	if err := host.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("plain snapshots", func(t *testing.T) {
		r := mustRun(ctx, t, "watch", "--store", u, "--interval", "10ms", "--count", "2")
		if n := strings.Count(r.stdout, "Every 10ms: "); n != 2 {
			t.Fatalf("%d snapshots, want 2:\n%s", n, r.stdout)
		}
		if strings.Contains(r.stdout, "\x1b[") {
			t.Errorf("escape codes in a non-terminal output")
		}
		for _, want := range []string{"UNCHANGED(OBSERVED)", "host-a", "HOST", "live", "3 partitions, 2 free or expired"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("watch lacks %q:\n%s", want, r.stdout)
			}
		}
	})

	t.Run("expiry is observed", func(t *testing.T) {
		// host-a stops renewing: after a lease duration of watching, its
		// partition shows as expired.
		r := mustRun(ctx, t, "watch", "--store", u, "-o", "json", "--interval", "150ms", "--lease-duration", "300ms", "--count", "4")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 4 {
			t.Fatalf("%d JSON lines, want 4:\n%s", len(lines), r.stdout)
		}
		var first, last watchJSON
		if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(lines[3]), &last); err != nil {
			t.Fatal(err)
		}
		if p := first.Partitions[1]; p.State != "held" || *p.UnchangedForSeconds != 0 {
			t.Errorf("first look at partition 1: %+v", p)
		}
		if p := last.Partitions[1]; p.State != "expired" || *p.UnchangedForSeconds < 0.3 {
			t.Errorf("last look at partition 1: state %s, unchanged %v", p.State, *p.UnchangedForSeconds)
		}
		if len(last.Hosts) != 1 || last.Hosts[0].Name != "host-a" || last.Hosts[0].Partitions != 1 || last.Hosts[0].State != "expired" {
			t.Errorf("hosts: %+v", last.Hosts)
		}
	})

	t.Run("first look fails", func(t *testing.T) {
		wantFail(t, tidemark(ctx, t, "watch", "--store", newFileStoreURL(t), "--count", "1"), exitFailure, "store not found")
	})

	t.Run("interrupted", func(t *testing.T) {
		done := make(chan result, 1)
		wctx, stop := context.WithCancel(ctx)
		go func() { done <- tidemark(wctx, t, "watch", "--store", u, "--interval", "20ms") }()
		time.Sleep(100 * time.Millisecond)
		stop()
		select {
		case r := <-done:
			if r.code != 0 || r.stderr != "" {
				t.Errorf("interrupted watch: %+v", r)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("watch did not stop")
		}
	})
}

func TestWatchRedrawsOnATerminal(t *testing.T) {
	var b strings.Builder
	v := &watchView{w: &b, errw: &b, tty: true, url: "mem://x", interval: time.Second, leaseDur: time.Minute}
	for range 2 {
		if err := v.draw(snapshot{at: time.Now()}, nil); err != nil {
			t.Fatal(err)
		}
	}
	frames := strings.Split(b.String(), "\x1b[H\x1b[2J")
	if len(frames) != 3 || frames[0] != "" || !strings.HasPrefix(frames[2], "Every 1s: mem://x") {
		t.Errorf("terminal frames: %q", b.String())
	}
}

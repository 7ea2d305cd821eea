package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

// TestStoredStringsAreEscaped (item 10): a record whose metadata, owner and
// offset hold terminal control sequences, newlines and a bidi override is
// shown by get, ls and watch with those escaped (\x1b, \n, \u202e), never
// raw; -o json keeps the exact strings.
func TestStoredStringsAreEscaped(t *testing.T) {
	ctx := testContext(t, 2*time.Minute)
	const (
		metadata = "\x1b[2J\nEVIL"
		owner    = "host-\u202eevil\u0085"
		offset   = "99\x1b[31m\tRED"
	)
	u := newFileStoreURL(t)
	seed(ctx, t, openTestStore(ctx, t, u, "setup"), 2)
	host, lease := hold(ctx, t, u, owner, "1")
	if err := host.UpdateLease(ctx, lease, metadata); err != nil {
		t.Fatal(err)
	}
	if err := host.UpdateCheckpoint(ctx, lease, blobstore.Checkpoint{Offset: offset, SequenceNumber: 7}); err != nil {
		t.Fatal(err)
	}
	if err := host.Heartbeat(ctx); err != nil { // a HOSTS row in watch
		t.Fatal(err)
	}
	noRaw := func(t *testing.T, what, out string) {
		t.Helper()
		for _, bad := range []string{"\x1b", "\nEVIL", "\u202e", "\u0085", "\tRED"} {
			if strings.Contains(out, bad) {
				t.Errorf("%s prints %q raw:\n%s", what, bad, out)
			}
		}
	}
	wantEscaped := func(t *testing.T, what, out string, wants ...string) {
		t.Helper()
		for _, w := range wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks the escaped %s:\n%s", what, w, out)
			}
		}
	}
	escOwner, escOffset := `"host-\u202eevil\u0085"`, `"99\x1b[31m\tRED"`

	get := exeOK(ctx, t, nil, "get", "1", "--store", u).stdout
	noRaw(t, "get", get)
	wantEscaped(t, "get", get, `"\x1b[2J\nEVIL"`, escOwner, escOffset)
	if n := strings.Count(get, "\n"); n != 9 {
		t.Errorf("get prints %d lines, want 9:\n%s", n, get)
	}

	ls := exeOK(ctx, t, nil, "ls", "--store", u).stdout
	noRaw(t, "ls", ls)
	wantEscaped(t, "ls", ls, escOwner, escOffset)
	if n := strings.Count(ls, "\n"); n != 3 {
		t.Errorf("ls prints %d lines, want a header and 2 rows:\n%s", n, ls)
	}

	watch := exeOK(ctx, t, nil, "watch", "--store", u, "--count", "1").stdout
	noRaw(t, "watch", watch)
	wantEscaped(t, "watch", watch, escOwner, escOffset)

	// JSON escapes by itself: the exact strings come back.
	var one leaseJSON
	if err := json.Unmarshal([]byte(exeOK(ctx, t, nil, "get", "1", "--store", u, "-o", "json").stdout), &one); err != nil {
		t.Fatal(err)
	}
	if one.Metadata != metadata || one.Owner != owner || one.Checkpoint.off() != offset {
		t.Errorf("get -o json changed the strings: %+v", one)
	}
	var snap watchJSON
	if err := json.Unmarshal([]byte(exeOK(ctx, t, nil, "watch", "--store", u, "--count", "1", "-o", "json").stdout), &snap); err != nil {
		t.Fatal(err)
	}
	if p := snap.Partitions[1]; p.Metadata != metadata || p.Owner != owner || len(snap.Hosts) != 1 || snap.Hosts[0].Name != owner {
		t.Errorf("watch -o json changed the strings: %+v %+v", p, snap.Hosts)
	}

	// A plan and a refusal name the owner escaped too.
	plan := exe(ctx, t, nil, "set", "1", "--store", u, "--offset", "1", "--sequence", "1", "--execute")
	noRaw(t, "set", plan.stdout+plan.stderr)
	wantEscaped(t, "set", plan.stdout, escOwner)
}

func TestCell(t *testing.T) {
	tests := []struct{ in, cell, msg string }{
		{"host-a", "host-a", "host-a"},
		{`{"k":"v\n"}`, `{"k":"v\n"}`, `{"k":"v\n"}`}, // a backslash-n written as text is safe
		{"α-β", "α-β", "α-β"},
		{"\x1b[2J\nEVIL", `"\x1b[2J\nEVIL"`, `\x1b[2J\nEVIL`},
		{"a\u202eb\u2066c", `"a\u202eb\u2066c"`, `a\u202eb\u2066c`},
		{"c1\u009b31m", `"c1\u009b31m"`, `c1\u009b31m`},
		{"del\x7f", `"del\x7f"`, `del\x7f`},
		{"bad\xffutf8", `"bad\xffutf8"`, `bad\xffutf8`},
	}
	for _, tc := range tests {
		if got := cell(tc.in); got != tc.cell {
			t.Errorf("cell(%q) = %s, want %s", tc.in, got, tc.cell)
		}
		if got := escapeControls(tc.in); got != tc.msg {
			t.Errorf("escapeControls(%q) = %s, want %s", tc.in, got, tc.msg)
		}
	}
}

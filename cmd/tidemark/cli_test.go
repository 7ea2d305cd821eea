package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

func TestUsageErrors(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	u := newFileStoreURL(t)
	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"unknown command", []string{"lss"}, []string{`unknown command "lss"`, `did you mean "ls"`, "see 'tidemark --help'"}},
		{"unknown flag", []string{"ls", "--store", u, "--bogus"}, []string{"unknown flag: --bogus", "see 'tidemark ls --help'"}},
		{"bad flag value", []string{"ls", "--store", u, "--timeout", "soon"}, []string{"--timeout"}},
		{"no store", []string{"ls"}, []string{"no store", "--store URL", envStore}},
		{"bad output", []string{"ls", "--store", u, "-o", "yaml"}, []string{"--output must be table or json"}},
		{"ls takes no args", []string{"ls", "--store", u, "3"}, []string{"ls takes no arguments"}},
		{"get wants a partition", []string{"get", "--store", u}, []string{"get wants PARTITION"}},
		{"set without sequence", []string{"set", "0", "--store", u, "--offset", "5"}, []string{"--offset and --sequence"}},
		{"set with empty offset", []string{"set", "0", "--store", u, "--offset", "", "--sequence", "1"}, []string{"offset", "empty"}},
		{"set dry-run and execute", []string{"set", "0", "--store", u, "--offset", "5", "--sequence", "1", "--execute", "--dry-run"}, []string{"contradict"}},
		{"dry-run false", []string{"set", "0", "--store", u, "--offset", "5", "--sequence", "1", "--dry-run=false"}, []string{"use --execute"}},
		{"rewind without target", []string{"rewind", "--all", "--store", u}, []string{"exactly one of --to-start"}},
		{"rewind two targets", []string{"rewind", "--all", "--store", u, "--to-start", "--to-sequence", "5", "--offset", "9"}, []string{"exactly one of"}},
		{"rewind sequence without offset", []string{"rewind", "0", "--store", u, "--to-sequence", "5"}, []string{"--to-sequence and --offset go together"}},
		{"rewind without partitions", []string{"rewind", "--store", u, "--to-start"}, []string{"--all"}},
		{"rewind all and named", []string{"rewind", "0", "--all", "--store", u, "--to-start"}, []string{"not both"}},
		{"rewind missing file", []string{"rewind", "--store", u, "--to-file", filepath.Join(t.TempDir(), "nope.json")}, []string{"nope.json"}},
		{"import without file", []string{"import", "--store", u}, []string{"-f FILE"}},
		{"release wants a partition", []string{"release", "--store", u}, []string{"release wants at least 1 PARTITION"}},
		{"watch bad interval", []string{"watch", "--store", u, "--interval", "0s"}, []string{"--interval must be positive"}},
		{"zero timeout", []string{"ls", "--store", u, "--timeout", "0s"}, []string{"--timeout must be positive"}},
		{"invalid partition id", []string{"set", "..", "--store", u, "--offset", "1", "--sequence", "1"}, []string{"invalid partition id", `".."`}},
		{"invalid partition id in rm", []string{"rm", "ok", "bad\x01id", "--store", u}, []string{"invalid partition id", "control character"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tidemark(ctx, t, tc.args...)
			code := exitUsage
			if tc.name == "rewind missing file" {
				code = exitFailure // a file that cannot be read is not a typo in the command line
			}
			wantFail(t, r, code, tc.wants...)
		})
	}
}

func TestHelp(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	root := mustRun(ctx, t, "--help")
	for _, sub := range []string{"ls", "get", "set", "rewind", "release", "rm", "init", "watch", "export", "import", "version"} {
		if !strings.Contains(root.stdout, "\n  "+sub+" ") {
			t.Errorf("tidemark --help does not list %s:\n%s", sub, root.stdout)
		}
		r := mustRun(ctx, t, sub, "--help")
		for _, want := range []string{"Usage:\n  tidemark " + sub, "Examples:\n  tidemark " + sub, "--store URL", "--timeout", "--log-format", "--log-level"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("tidemark %s --help lacks %q:\n%s", sub, want, r.stdout)
			}
		}
	}
	// No arguments at all prints the help and succeeds, as kubectl does.
	if r := mustRun(ctx, t); !strings.Contains(r.stdout, "Available Commands:") {
		t.Errorf("tidemark with no arguments: %q", r.stdout)
	}
	// The help says which age is which.
	ls := mustRun(ctx, t, "ls", "--help").stdout
	for _, want := range []string{"AGE(WRITER-CLOCK)", "WRITER's wall clock", "UNCHANGED(OBSERVED)"} {
		if !strings.Contains(ls, want) {
			t.Errorf("ls --help lacks %q", want)
		}
	}
	if w := mustRun(ctx, t, "watch", "--help").stdout; !strings.Contains(w, "own monotonic clock") {
		t.Errorf("watch --help does not explain UNCHANGED(OBSERVED)")
	} else if !strings.Contains(w, "There is no LAG column") || !strings.Contains(w, "tidemark.host.lag") {
		t.Errorf("watch --help does not say why it shows no lag, nor where to find it")
	}
}

func TestLsAndGet(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	u := newFileStoreURL(t)

	r := tidemark(ctx, t, "ls", "--store", u)
	wantFail(t, r, exitFailure, "store not found", "tidemark init")

	s := openTestStore(ctx, t, u, "setup")
	seed(ctx, t, s, 12)
	host, lease := hold(ctx, t, u, "host-a", "3")
	if err := host.UpdateLease(ctx, lease, `{"k":"v"}`); err != nil {
		t.Fatal(err)
	}

	r = mustRun(ctx, t, "ls", "--store", u)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 13 {
		t.Fatalf("ls: %d lines, want a header and 12 rows:\n%s", len(lines), r.stdout)
	}
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "PARTITION OWNER STATE EPOCH OFFSET SEQUENCE AGE(WRITER-CLOCK)" {
		t.Errorf("header %q", lines[0])
	}
	// Natural order: 0 1 2 ... 9 10 11.
	for i, line := range lines[1:] {
		if f := strings.Fields(line); f[0] != itoa(i) {
			t.Errorf("row %d is partition %s", i, f[0])
		}
	}
	if f := strings.Fields(lines[4]); strings.Join(f[:6], " ") != "3 host-a held 1 3000 30" {
		t.Errorf("partition 3 row %q", lines[4])
	}
	if f := strings.Fields(lines[1]); strings.Join(f[:6], " ") != "0 <none> free 0 -1 0" {
		t.Errorf("partition 0 row %q", lines[1])
	}

	ls := byPartition(lsJSON(ctx, t, u))
	if got := ls["3"]; got.Owner != "host-a" || got.State != "held" || got.Epoch != 1 || got.Checkpoint == nil ||
		got.Checkpoint.off() != "3000" || got.Checkpoint.seq() != 30 || got.Metadata != `{"k":"v"}` || got.Updated.IsZero() {
		t.Errorf("ls -o json partition 3: %+v", got)
	}

	r = mustRun(ctx, t, "get", "3", "--store", u)
	for _, want := range []string{"Key:", "orders/billing/3.json", "Owner:", "host-a", "Metadata:", `{"k":"v"}`, "writer's clock"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("get 3 lacks %q:\n%s", want, r.stdout)
		}
	}
	var one leaseJSON
	r = mustRun(ctx, t, "get", "7", "--store", u, "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &one); err != nil || one.Partition != "7" || one.Checkpoint.seq() != 70 {
		t.Errorf("get 7 -o json: %v %+v", err, one)
	}

	wantFail(t, tidemark(ctx, t, "get", "99", "--store", u), exitFailure, `"99"`, "not found")
	wantFail(t, tidemark(ctx, t, "get", "a/b", "--store", u), exitUsage, "invalid partition id", `"a/b"`, "path separator")

	// An empty store lists nothing, and says so on stderr.
	empty := newFileStoreURL(t)
	mustRun(ctx, t, "init", "--store", empty)
	if r := mustRun(ctx, t, "ls", "--store", empty); r.stdout != "" || !strings.Contains(r.stderr, "No partitions") {
		t.Errorf("ls of an empty store: %+v", r)
	}
	if r := mustRun(ctx, t, "ls", "--store", empty, "-o", "json"); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("ls -o json of an empty store: %q", r.stdout)
	}
}

func TestStoreFromEnvironment(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	u := newFileStoreURL(t)
	t.Setenv(envStore, u)
	mustRun(ctx, t, "init", "--partitions", "2")
	if got := lsJSON(ctx, t, u); len(got) != 2 {
		t.Fatalf("init through %s created %d partitions", envStore, len(got))
	}
	// --store wins over the environment.
	other := newFileStoreURL(t)
	mustRun(ctx, t, "init", "--store", other, "--partitions", "5")
	if r := mustRun(ctx, t, "ls", "--store", other, "-o", "json"); strings.Count(r.stdout, `"partition"`) != 5 {
		t.Errorf("--store did not win over %s", envStore)
	}
}

func TestSet(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	tests := []struct {
		name        string
		held        bool
		flags       []string
		wantCode    int
		wantChanged bool
		wantOut     []string
	}{
		{"free, dry run", false, nil, 0, false, []string{"set", "Dry run: 1 of 1 partitions would change", "--execute"}},
		{"free, execute", false, []string{"--execute"}, 0, true, []string{"RESULT", "done"}},
		{"held, dry run", true, nil, 0, false, []string{"refused: held by host-a (add --force", "1 held partition(s) would be refused"}},
		{"held, execute", true, []string{"--execute"}, 1, false, []string{"refused: held by host-a"}},
		{"held, forced dry run", true, []string{"--force"}, 0, false, []string{"set, fencing host-a (epoch 1 -> 2)"}},
		{"held, forced execute", true, []string{"--execute", "--force"}, 0, true, []string{"done: host-a fenced, epoch now 2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := newFileStoreURL(t)
			seed(ctx, t, openTestStore(ctx, t, u, "setup"), 2)
			var host *blobstore.Store
			var lease blobstore.Lease
			if tc.held {
				host, lease = hold(ctx, t, u, "host-a", "1")
			}
			args := append([]string{"set", "1", "--store", u, "--offset", "77", "--sequence", "7"}, tc.flags...)
			r := tidemark(ctx, t, args...)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s%s", r.code, tc.wantCode, r.stdout, r.stderr)
			}
			if tc.wantCode != 0 {
				checkErrorLine(t, r.stderr, "1 of 1 partitions were not changed")
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, r.stdout)
				}
			}
			l := getLease(ctx, t, u, "1")
			changed := l.Checkpoint.Offset == "77" && l.Checkpoint.SequenceNumber == 7
			if changed != tc.wantChanged {
				t.Fatalf("checkpoint %+v, changed %v, want %v", l.Checkpoint, changed, tc.wantChanged)
			}
			if !tc.held {
				return
			}
			// The holder's next checkpoint: accepted unless it was fenced,
			// and then it fails loudly rather than overwrite the edit.
			err := host.UpdateCheckpoint(ctx, lease, blobstore.Checkpoint{Offset: "5000", SequenceNumber: 50})
			if tc.wantChanged {
				if !errors.Is(err, blobstore.ErrLeaseLost) {
					t.Fatalf("fenced holder's checkpoint: %v, want ErrLeaseLost", err)
				}
				if l := getLease(ctx, t, u, "1"); l.Checkpoint.Offset != "77" || l.Owner != "" || l.Epoch != 2 {
					t.Fatalf("after the fenced holder wrote: %+v", l)
				}
			} else if err != nil {
				t.Fatalf("unfenced holder's checkpoint: %v", err)
			}
		})
	}

	t.Run("missing partition", func(t *testing.T) {
		u := newFileStoreURL(t)
		seed(ctx, t, openTestStore(ctx, t, u, "setup"), 1)
		wantFail(t, tidemark(ctx, t, "set", "5", "--store", u, "--offset", "1", "--sequence", "1"), exitFailure,
			`"5"`, "not found", "tidemark init 5")
	})
	t.Run("already there", func(t *testing.T) {
		u := newFileStoreURL(t)
		seed(ctx, t, openTestStore(ctx, t, u, "setup"), 2)
		r := mustRun(ctx, t, "set", "1", "--store", u, "--offset", "1000", "--sequence", "10", "--execute")
		if !strings.Contains(r.stdout, "none: already there") {
			t.Errorf("set to the current checkpoint:\n%s", r.stdout)
		}
	})
	t.Run("json", func(t *testing.T) {
		u := newFileStoreURL(t)
		seed(ctx, t, openTestStore(ctx, t, u, "setup"), 2)
		r := mustRun(ctx, t, "set", "1", "--store", u, "--offset", "5", "--sequence", "2", "-o", "json")
		var plan []planJSON
		if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
			t.Fatalf("%v\n%s", err, r.stdout)
		}
		if len(plan) != 1 || plan[0].Action != "set" || plan[0].Current.off() != "1000" || plan[0].New.off() != "5" || plan[0].Result != "" {
			t.Errorf("plan %+v", plan)
		}
	})
}

func TestRewind(t *testing.T) {
	ctx := testContext(t, 30*time.Second)

	t.Run("to start, all", func(t *testing.T) {
		u := newFileStoreURL(t)
		seed(ctx, t, openTestStore(ctx, t, u, "setup"), 4)
		hold(ctx, t, u, "host-a", "2")
		r := mustRun(ctx, t, "rewind", "--all", "--to-start", "--store", u)
		if !strings.Contains(r.stdout, "Dry run: 2 of 4 partitions would change") || !strings.Contains(r.stdout, "none: already there") {
			t.Errorf("plan:\n%s", r.stdout)
		}
		r = tidemark(ctx, t, "rewind", "--all", "--to-start", "--store", u, "--execute")
		wantFail(t, r, exitFailure, "1 of 4 partitions were not changed")
		ls := byPartition(lsJSON(ctx, t, u))
		if ls["1"].Checkpoint.off() != "-1" || ls["3"].Checkpoint.off() != "-1" || ls["2"].Checkpoint.off() != "2000" {
			t.Errorf("after the rewind: %+v", ls)
		}
		mustRun(ctx, t, "rewind", "--all", "--to-start", "--store", u, "--execute", "--force")
		ls = byPartition(lsJSON(ctx, t, u))
		if p := ls["2"]; p.Checkpoint.off() != "-1" || p.Checkpoint.seq() != 0 || p.Owner != "" || p.Epoch != 2 {
			t.Errorf("forced rewind of the held partition: %+v", p)
		}
	})

	t.Run("to sequence", func(t *testing.T) {
		u := newFileStoreURL(t)
		seed(ctx, t, openTestStore(ctx, t, u, "setup"), 4)
		// Partition 1 is at sequence 10, 3 at 30: 20 is back for 3, forward for 1.
		r := tidemark(ctx, t, "rewind", "1", "3", "--to-sequence", "20", "--offset", "abc", "--store", u, "--execute")
		wantFail(t, r, exitFailure, "1 of 2 partitions were not changed")
		if !strings.Contains(r.stdout, "refused: would move forward (sequence 10 -> 20)") {
			t.Errorf("forward move not refused:\n%s", r.stdout)
		}
		ls := byPartition(lsJSON(ctx, t, u))
		if p := ls["3"].Checkpoint; p.off() != "abc" || p.seq() != 20 {
			t.Errorf("partition 3: %+v", p)
		}
		if p := ls["1"].Checkpoint; p.off() != "1000" || p.seq() != 10 {
			t.Errorf("partition 1 moved: %+v", p)
		}
	})

	t.Run("to file", func(t *testing.T) {
		u := newFileStoreURL(t)
		seed(ctx, t, openTestStore(ctx, t, u, "setup"), 4)
		dir := t.TempDir()
		before := filepath.Join(dir, "before.json")
		if err := os.WriteFile(before, []byte(mustRun(ctx, t, "ls", "--store", u, "-o", "json").stdout), 0o600); err != nil {
			t.Fatal(err)
		}
		exported := filepath.Join(dir, "export.json")
		mustRun(ctx, t, "export", "--store", u, "-f", exported)
		// The group moves on.
		mustRun(ctx, t, "set", "2", "--store", u, "--offset", "9999", "--sequence", "99", "--execute")
		mustRun(ctx, t, "set", "3", "--store", u, "--offset", "8888", "--sequence", "88", "--execute")

		r := mustRun(ctx, t, "rewind", "--to-file", before, "--store", u, "--execute")
		if !strings.Contains(r.stdout, "done") {
			t.Errorf("rewind --to-file:\n%s", r.stdout)
		}
		ls := byPartition(lsJSON(ctx, t, u))
		if ls["2"].Checkpoint.off() != "2000" || ls["3"].Checkpoint.off() != "3000" {
			t.Errorf("after rewind --to-file: %+v %+v", ls["2"].Checkpoint, ls["3"].Checkpoint)
		}
		// An export document works too, and named partitions narrow it.
		mustRun(ctx, t, "set", "2", "--store", u, "--offset", "9999", "--sequence", "99", "--execute")
		mustRun(ctx, t, "set", "3", "--store", u, "--offset", "8888", "--sequence", "88", "--execute")
		mustRun(ctx, t, "rewind", "3", "--to-file", exported, "--store", u, "--execute")
		ls = byPartition(lsJSON(ctx, t, u))
		if ls["2"].Checkpoint.off() != "9999" || ls["3"].Checkpoint.off() != "3000" {
			t.Errorf("after rewind 3 --to-file export: %+v %+v", ls["2"].Checkpoint, ls["3"].Checkpoint)
		}
		// A positions file without sequence numbers is refused, not read as 0.
		bad := filepath.Join(dir, "bad.json")
		if err := os.WriteFile(bad, []byte(`[{"partition":"1","checkpoint":{"offset":"5"}}]`), 0o600); err != nil {
			t.Fatal(err)
		}
		// A file that is not a positions file fails the operation (exit 1),
		// as a missing one does; the command line itself is right.
		wantFail(t, tidemark(ctx, t, "rewind", "--to-file", bad, "--store", u), exitFailure, "sequence")
	})
}

func TestReleaseRmInit(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	u := newFileStoreURL(t)

	r := mustRun(ctx, t, "init", "--store", u, "--partitions", "3", "extra")
	if !strings.Contains(r.stdout, "Created store") || !strings.Contains(r.stdout, "Created 4 partitions.") {
		t.Errorf("init:\n%s", r.stdout)
	}
	r = mustRun(ctx, t, "init", "--store", u, "--partitions", "4")
	if !strings.Contains(r.stdout, "already exists") || !strings.Contains(r.stdout, "Created 1 of 4 partitions") {
		t.Errorf("init again:\n%s", r.stdout)
	}
	if got := lsJSON(ctx, t, u); len(got) != 5 {
		t.Fatalf("%d partitions after init, want 5", len(got))
	}

	host, lease := hold(ctx, t, u, "host-a", "1")
	r = mustRun(ctx, t, "release", "1", "2", "--store", u)
	for _, want := range []string{"Partition 1 released: host-a fenced, epoch 1 -> 2", "Partition 2 was already free (epoch 0)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("release lacks %q:\n%s", want, r.stdout)
		}
	}
	if err := host.UpdateCheckpoint(ctx, lease, blobstore.Checkpoint{Offset: "1", SequenceNumber: 1}); !errors.Is(err, blobstore.ErrLeaseLost) {
		t.Errorf("released holder's checkpoint: %v, want ErrLeaseLost", err)
	}
	wantFail(t, tidemark(ctx, t, "release", "9", "--store", u), exitFailure, `"9"`, "not found")

	hold(ctx, t, u, "host-b", "2")
	wantFail(t, tidemark(ctx, t, "rm", "2", "--store", u), exitFailure, `held by "host-b"`, "--force")
	r = mustRun(ctx, t, "rm", "2", "extra", "nope", "--store", u, "--force")
	for _, want := range []string{"Partition 2 deleted (host-b fenced).", "Partition extra deleted.", "Partition nope does not exist."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rm lacks %q:\n%s", want, r.stdout)
		}
	}
	if got := byPartition(lsJSON(ctx, t, u)); len(got) != 3 || got["2"].Partition != "" {
		t.Errorf("after rm: %+v", got)
	}
}

func TestErrorsNameTheirCause(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	u := newFileStoreURL(t)
	seed(ctx, t, openTestStore(ctx, t, u, "setup"), 3)

	// Corrupt partition 1's record behind the store's back.
	dir := strings.TrimPrefix(strings.Split(u, "?")[0], "file://")
	if err := os.WriteFile(filepath.Join(dir, "orders", "billing", "1.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"ls with a corrupt record", []string{"ls", "--store", u}, []string{"corrupt record", "orders/billing/1.json", "left as it is"}},
		{"get a corrupt record", []string{"get", "1", "--store", u}, []string{"corrupt record", "orders/billing/1.json"}},
		{"set a corrupt record", []string{"set", "1", "--store", u, "--offset", "1", "--sequence", "1", "--execute"}, []string{"orders/billing/1.json"}},
		{"store not found", []string{"ls", "--store", newFileStoreURL(t)}, []string{"store not found", "tidemark init"}},
		{"unreachable store", []string{"ls", "--timeout", "3s", "--store", "s3://bucket?endpoint=http://127.0.0.1:1&use_path_style=true&region=us-east-1"},
			[]string{"127.0.0.1:1"}},
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret-value-never-printed")
	t.Run("ls lists the readable partitions beside the corrupt one", func(t *testing.T) {
		r := tidemark(ctx, t, "ls", "--store", u)
		for _, want := range []string{"\n0 ", "\n2 ", "corrupt"} {
			if !strings.Contains("\n"+r.stdout, want) {
				t.Errorf("ls stdout lacks %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("unknown scheme", func(t *testing.T) {
		// A store URL that cannot name a store is a wrong command line.
		wantFail(t, tidemark(ctx, t, "ls", "--store", "ftp://host/x"), exitUsage, "invalid store URL", `"ftp"`, "check the URL")
	})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := tidemark(ctx, t, tc.args...)
			wantFail(t, r, exitFailure, tc.wants...)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestUnreachableStoreIsBounded(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	// A listener that accepts and never answers: only the timeout ends it.
	addr := blackhole(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test-secret-value-never-printed")
	start := time.Now()
	r := tidemark(ctx, t, "ls", "--timeout", "1s", "--store", "s3://bucket?endpoint=http://"+addr+"&use_path_style=true&region=us-east-1")
	wantFail(t, r, exitFailure, "did not answer within 1s (--timeout)")
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("an unanswered store took %v with --timeout 1s", d)
	}
}

// off and seq read a JSON position's fields, "" and NoSequenceNumber when
// absent.
func (p *position) off() string {
	if p == nil || p.Offset == nil {
		return ""
	}
	return *p.Offset
}

func (p *position) seq() int64 {
	if p == nil || p.Sequence == nil {
		return blobstore.NoSequenceNumber
	}
	return *p.Sequence
}

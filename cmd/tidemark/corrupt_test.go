package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

// corruptStore returns a file store with partitions 0..3 whose record 1 is
// not JSON, and the path of that record.
func corruptStore(t *testing.T) (u, path string) {
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	u = newFileStoreURL(t)
	seed(ctx, t, openTestStore(ctx, t, u, "setup"), 4)
	path = filepath.Join(fileStoreDir(u), "orders", "billing", "1.json")
	if err := os.WriteFile(path, []byte("{not json\x1b[2J"), 0o600); err != nil {
		t.Fatal(err)
	}
	return u, path
}

// TestListingCommandsPassCorruptRecords (item 5): watch, export and rewind
// --all do what they can with the readable records, show the corrupt one,
// and exit 1 naming it, as ls does.
func TestListingCommandsPassCorruptRecords(t *testing.T) {
	ctx := testContext(t, time.Minute)
	const key = "orders/billing/1.json"

	t.Run("watch", func(t *testing.T) {
		u, _ := corruptStore(t)
		r := tidemark(ctx, t, "watch", "--store", u, "--count", "2", "--interval", "10ms")
		wantFail(t, r, exitFailure, "corrupt record", key)
		for _, want := range []string{"\n0 ", "\n2 ", "\n3 ", "corrupt", "4 partitions", key} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("watch lacks %q:\n%s", want, r.stdout)
			}
		}
		r = tidemark(ctx, t, "watch", "--store", u, "--count", "1", "-o", "json")
		wantFail(t, r, exitFailure, key)
		var snap watchJSON
		if err := json.Unmarshal([]byte(r.stdout), &snap); err != nil {
			t.Fatal(err)
		}
		states := map[string]string{}
		for _, p := range snap.Partitions {
			states[p.Partition] = p.State
		}
		if len(states) != 4 || states["1"] != "corrupt" || states["2"] != "free" {
			t.Errorf("watch -o json: %+v", snap.Partitions)
		}
	})

	t.Run("export", func(t *testing.T) {
		u, _ := corruptStore(t)
		file := filepath.Join(t.TempDir(), "export.json")
		r := tidemark(ctx, t, "export", "--store", u, "-f", file)
		if r.code != exitFailure || !strings.Contains(r.stderr, "Exported 3 partitions") {
			t.Fatalf("export: %+v", r)
		}
		lines := strings.SplitAfter(r.stderr, "\n")
		checkErrorLine(t, lines[1], "corrupt record", key)
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var doc exportDoc
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Partitions) != 3 || len(doc.Corrupt) != 1 || doc.Corrupt[0].Key != key || doc.Corrupt[0].Error == "" {
			t.Errorf("export document: %+v", doc)
		}
		// The incomplete export still imports, saying what it lacks.
		dst := newFileStoreURL(t)
		r = mustRun(ctx, t, "import", "-f", file, "--store", dst, "--execute")
		if !strings.Contains(r.stderr, "incomplete") || !strings.Contains(r.stderr, key) {
			t.Errorf("import of an incomplete export: %+v", r)
		}
		if got := lsJSON(ctx, t, dst); len(got) != 3 {
			t.Errorf("imported %d partitions, want 3", len(got))
		}
		// To stdout: the document, then the error.
		r = tidemark(ctx, t, "export", "--store", u)
		wantFail(t, r, exitFailure, key)
		if !strings.Contains(r.stdout, `"corrupt": [`) {
			t.Errorf("export to stdout:\n%s", r.stdout)
		}
	})

	t.Run("rewind --all", func(t *testing.T) {
		u, _ := corruptStore(t)
		r := tidemark(ctx, t, "rewind", "--all", "--to-start", "--store", u)
		wantFail(t, r, exitFailure, "corrupt record", key)
		if !strings.Contains(r.stdout, "Dry run: 2 of 4 partitions would change") || !strings.Contains(r.stdout, "corrupt record, left as it is") {
			t.Errorf("rewind plan:\n%s", r.stdout)
		}
		r = tidemark(ctx, t, "rewind", "--all", "--to-start", "--store", u, "--execute")
		wantFail(t, r, exitFailure, "corrupt record", key)
		if strings.Contains(r.stderr, "were not changed") {
			t.Errorf("the corrupt record counted as a refusal: %s", r.stderr)
		}
		ls, _, err := openTestStore(ctx, t, u, "check").ListLeasesSkippingCorrupt(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range ls {
			if l.Checkpoint.Offset != "-1" || l.Checkpoint.SequenceNumber != 0 {
				t.Errorf("partition %s not rewound: %+v", l.PartitionID, l.Checkpoint)
			}
		}
		if len(ls) != 3 {
			t.Errorf("%d readable partitions, want 3", len(ls))
		}
		r = tidemark(ctx, t, "rewind", "--all", "--to-start", "--store", u, "-o", "json")
		var plan []planJSON
		if err := json.Unmarshal([]byte(r.stdout), &plan); err != nil {
			t.Fatal(err)
		}
		if len(plan) != 4 || !plan[3].Corrupt || plan[3].Partition != "1" {
			t.Errorf("rewind -o json: %+v", plan)
		}
	})
}

// hookCorruptRecords makes rm --corrupt go through a hookedCorruptRecords
// for the test's duration, and returns it.
func hookCorruptRecords(t *testing.T, beforeRemove func()) *hookedCorruptRecords {
	t.Helper()
	h := &hookedCorruptRecords{beforeRemove: beforeRemove}
	old := corruptRecordsOf
	corruptRecordsOf = func(s *blobstore.Store) corruptRecords {
		h.corruptRecords = old(s)
		return h
	}
	t.Cleanup(func() { corruptRecordsOf = old })
	return h
}

// TestRmCorrupt (item 5): rm --corrupt shows what is stored and removes it
// with --execute only while it still holds the bytes shown; it refuses a
// record that reads fine.
func TestRmCorrupt(t *testing.T) {
	ctx := testContext(t, time.Minute)
	const key = "orders/billing/1.json"
	const stored = "{not json\x1b[2J"

	t.Run("plan, then remove", func(t *testing.T) {
		u, path := corruptStore(t)
		h := hookCorruptRecords(t, nil)
		for _, arg := range []string{"1", key} {
			r := mustRun(ctx, t, "rm", "--corrupt", arg, "--store", u)
			for _, want := range []string{"Key:", key, "Size:", "13 bytes", "First bytes:", `"{not json\x1b[2J"`, "Problem:", "Dry run: 1 corrupt record(s) would be removed"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("rm --corrupt %s: lacks %q:\n%s", arg, want, r.stdout)
				}
			}
			if strings.Contains(r.stdout, "\x1b") {
				t.Errorf("the plan prints the stored bytes raw:\n%q", r.stdout)
			}
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("the dry run removed the record: %v", err)
		}
		s := openTestStore(ctx, t, u, "check")
		_, version, err := s.ReadRecordBytes(ctx, "1")
		if err != nil {
			t.Fatal(err)
		}
		r := mustRun(ctx, t, "rm", "--corrupt", key, "--store", u, "--execute")
		if !strings.Contains(r.stdout, "Corrupt record "+key+" removed (13 bytes).") {
			t.Errorf("rm --corrupt --execute:\n%s", r.stdout)
		}
		if len(h.removed) != 1 || h.removed[0] != version {
			t.Errorf("RemoveCorrupt got versions %q, want the version of the bytes shown, %q", h.removed, version)
		}
		// ls is clean again, and the partition can be created afresh.
		if got := lsJSON(ctx, t, u); len(got) != 3 {
			t.Errorf("%d partitions after the removal, want 3", len(got))
		}
		mustRun(ctx, t, "init", "1", "--store", u)
		if got := lsJSON(ctx, t, u); len(got) != 4 {
			t.Errorf("%d partitions after init 1, want 4", len(got))
		}
	})

	t.Run("changed before the removal", func(t *testing.T) {
		u, path := corruptStore(t)
		hookCorruptRecords(t, func() {
			_ = os.WriteFile(path, []byte("{still not json"), 0o600) // someone repairs it, badly
		})
		r := tidemark(ctx, t, "rm", "--corrupt", "1", "--store", u, "--execute")
		wantFail(t, r, exitFailure, "1 of 1 corrupt record(s) were not removed")
		if !strings.Contains(r.stdout, "not removed") || !strings.Contains(r.stdout, "changed since it was inspected") {
			t.Errorf("stdout:\n%s", r.stdout)
		}
		if data, err := os.ReadFile(path); err != nil || string(data) != "{still not json" {
			t.Errorf("the rewritten record: %q, %v", data, err)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		u, path := corruptStore(t)
		wantFail(t, tidemark(ctx, t, "rm", "--corrupt", "2", "--store", u, "--execute"), exitFailure,
			"partition 2 is not corrupt", "reads fine", "tidemark rm 2")
		wantFail(t, tidemark(ctx, t, "rm", "--corrupt", "1", "2", "--store", u, "--execute"), exitFailure, "partition 2 is not corrupt")
		wantFail(t, tidemark(ctx, t, "rm", "--corrupt", "9", "--store", u), exitFailure, "partition not found", `"9"`)
		wantFail(t, tidemark(ctx, t, "rm", "--corrupt", "other/1.json", "--store", u), exitUsage, "not a record key under this store's prefix")
		wantFail(t, tidemark(ctx, t, "rm", "--corrupt", "1", "--force", "--store", u), exitUsage, "--force does not apply")
		if data, err := os.ReadFile(path); err != nil || string(data) != stored {
			t.Errorf("a refused rm --corrupt changed the corrupt record: %q, %v", data, err)
		}
		// Plain rm still refuses the corrupt record, and says how to remove it.
		wantFail(t, tidemark(ctx, t, "rm", "1", "--store", u), exitFailure, "corrupt record", "rm --corrupt")
	})

	t.Run("binary", func(t *testing.T) {
		u, path := corruptStore(t)
		r := exeOK(ctx, t, nil, "rm", "--corrupt", "1", "--store", u)
		if !strings.Contains(r.stdout, key) || !strings.Contains(r.stdout, "13 bytes") {
			t.Errorf("plan:\n%s", r.stdout)
		}
		exeOK(ctx, t, nil, "rm", "--corrupt", "1", "--store", u, "--execute")
		if _, err := os.Stat(path); err == nil {
			if data, _ := os.ReadFile(path); string(data) == stored {
				t.Error("the corrupt record is still there")
			}
		}
		exeOK(ctx, t, nil, "ls", "--store", u)
	})
}

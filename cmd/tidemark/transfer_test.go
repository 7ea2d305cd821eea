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

func TestExportImport(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	src := newFileStoreURL(t)
	s := openTestStore(ctx, t, src, "setup")
	seed(ctx, t, s, 5)
	// Partition 2 has metadata, partition 4 no checkpoint, 3 is held.
	host, lease := hold(ctx, t, src, "host-a", "2")
	if err := host.UpdateLease(ctx, lease, `{"ctx":"α"}`); err != nil {
		t.Fatal(err)
	}
	if err := host.Release(ctx, lease); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCheckpoint(ctx, "4"); err != nil {
		t.Fatal(err)
	}
	hold(ctx, t, src, "host-b", "3")

	file := filepath.Join(t.TempDir(), "export.json")
	r := mustRun(ctx, t, "export", "--store", src, "-f", file)
	if !strings.Contains(r.stderr, "Exported 5 partitions") {
		t.Errorf("export: %+v", r)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc exportDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Format != exportFormat || doc.Version != 1 || doc.Prefix != "orders/billing/" || doc.ExportedAt.IsZero() ||
		len(doc.Partitions) != 5 || doc.Source != redactURL(src) {
		t.Errorf("envelope: %+v", doc)
	}
	if p := doc.Partitions[3]; p.Owner != "host-b" || p.Epoch != 1 || p.Checkpoint.off() != "3000" {
		t.Errorf("partition 3: %+v", p)
	}
	if p := doc.Partitions[4]; p.Checkpoint != nil {
		t.Errorf("partition 4 exported with a checkpoint: %+v", p)
	}
	// stdout gives the same document.
	if r := mustRun(ctx, t, "export", "--store", src); !strings.Contains(r.stdout, `"format": "tidemark-export"`) {
		t.Errorf("export to stdout: %q", r.stdout)
	}

	t.Run("into a new store", func(t *testing.T) {
		dst := newFileStoreURL(t)
		r := mustRun(ctx, t, "import", "-f", file, "--store", dst)
		if !strings.Contains(r.stdout, "does not exist yet") || !strings.Contains(r.stdout, "Dry run: 5 of 5") {
			t.Errorf("plan:\n%s", r.stdout)
		}
		if _, err := os.Stat(strings.TrimPrefix(strings.Split(dst, "?")[0], "file://")); !os.IsNotExist(err) {
			t.Errorf("the dry run created the store (%v)", err)
		}
		mustRun(ctx, t, "import", "-f", file, "--store", dst, "--execute")
		compareGroups(t, lsJSON(ctx, t, src), lsJSON(ctx, t, dst))
		// Again: nothing to do.
		r = mustRun(ctx, t, "import", "-f", file, "--store", dst, "--execute")
		if strings.Count(r.stdout, "none: already there") != 5 {
			t.Errorf("second import:\n%s", r.stdout)
		}
		// "No checkpoint" survives the trip: it is not offset -1.
		d := openTestStore(ctx, t, dst, "check")
		if _, found, err := d.GetCheckpoint(ctx, "4"); err != nil || found {
			t.Errorf("partition 4 in the target: found %v, %v", found, err)
		}
	})

	t.Run("from stdin into a held target", func(t *testing.T) {
		dst := newFileStoreURL(t)
		ds := openTestStore(ctx, t, dst, "setup")
		seed(ctx, t, ds, 3)
		if _, err := ds.SetCheckpoint(ctx, blobstore.Checkpoint{PartitionID: "1", Offset: "77777", SequenceNumber: 777}, nil); err != nil {
			t.Fatal(err)
		}
		holder, hl := hold(ctx, t, dst, "host-c", "1")
		var out, errb strings.Builder
		code := runIO(ctx, []string{"import", "-f", "-", "--store", dst, "--execute"}, strings.NewReader(string(data)), &out, &errb)
		if code != exitFailure || !strings.Contains(out.String(), "refused") {
			t.Fatalf("import into a held partition: exit %d\n%s%s", code, out.String(), errb.String())
		}
		checkErrorLine(t, errb.String(), "1 of 5 partitions were not changed")
		if err := holder.Renew(ctx, hl); err != nil {
			t.Fatalf("an unforced import disturbed the holder: %v", err)
		}
		out.Reset()
		errb.Reset()
		code = runIO(ctx, []string{"import", "-f", "-", "--store", dst, "--execute", "--force"}, strings.NewReader(string(data)), &out, &errb)
		if code != 0 {
			t.Fatalf("forced import: exit %d\n%s%s", code, out.String(), errb.String())
		}
		if !strings.Contains(out.String(), "host-c fenced") {
			t.Errorf("forced import:\n%s", out.String())
		}
		if err := holder.UpdateCheckpoint(ctx, hl, blobstore.Checkpoint{Offset: "1", SequenceNumber: 1}); err == nil {
			t.Fatal("the fenced holder's checkpoint was accepted")
		}
		compareGroups(t, lsJSON(ctx, t, src), lsJSON(ctx, t, dst))
	})

	t.Run("bad documents", func(t *testing.T) {
		dir := t.TempDir()
		tests := []struct{ name, doc, want string }{
			{"not json", `{`, "not a tidemark export document"},
			{"wrong format", `{"format":"other","version":1}`, `format "other"`},
			{"newer version", `{"format":"tidemark-export","version":2}`, "export version 2"},
			{"bad partition", `{"format":"tidemark-export","version":1,"partitions":[{"partition":"a/b"}]}`, "invalid partition id"},
			{"duplicate", `{"format":"tidemark-export","version":1,"partitions":[{"partition":"1"},{"partition":"1"}]}`, "appears twice"},
			{"no sequence", `{"format":"tidemark-export","version":1,"partitions":[{"partition":"1","checkpoint":{"offset":"5"}}]}`, "sequence"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
				if err := os.WriteFile(f, []byte(tc.doc), 0o600); err != nil {
					t.Fatal(err)
				}
				// The command line is right; the file is not an export:
				// the operation failed (exit 1), as for a missing file.
				wantFail(t, tidemark(ctx, t, "import", "-f", f, "--store", newFileStoreURL(t)), exitFailure, tc.want)
			})
		}
	})
}

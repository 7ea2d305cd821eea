package conformance

import (
	"strings"
	"testing"

	"github.com/tidemark/tidemark/blobstore"
)

var validationCases = []testCase{
	{"BadPartitionIDsRefusedBeforeIO", func(t *testing.T, e *env) {
		s := e.created()
		s.bkt.reset()
		for name, id := range map[string]string{
			"empty":        "",
			"dot":          ".",
			"dotdot":       "..",
			"slash":        "a/b",
			"traversal":    "../etc",
			"backslash":    `a\b`,
			"NUL":          "a\x00b",
			"newline":      "a\nb",
			"DEL":          "a\x7fb",
			"invalid UTF8": "a\xffb",
			"10KB":         strings.Repeat("p", 10<<10),
		} {
			l := blobstore.Lease{PartitionID: id, Owner: s.Owner(), Token: "t"}
			ops := map[string]error{}
			_, _, ops["GetCheckpoint"] = s.GetCheckpoint(e.ctx, id)
			_, ops["CreateCheckpointIfNotExists"] = s.CreateCheckpointIfNotExists(e.ctx, id)
			ops["DeleteCheckpoint"] = s.DeleteCheckpoint(e.ctx, id)
			ops["UpdateCheckpoint"] = s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1"})
			_, _, ops["GetLease"] = s.GetLease(e.ctx, id)
			_, ops["CreateLeaseIfNotExists"] = s.CreateLeaseIfNotExists(e.ctx, id)
			_, ops["Acquire"] = s.Acquire(e.ctx, id)
			_, ops["Steal"] = s.Steal(e.ctx, id)
			ops["Renew"] = s.Renew(e.ctx, l)
			ops["Release"] = s.Release(e.ctx, l)
			ops["UpdateLease"] = s.UpdateLease(e.ctx, l, "m")
			ops["DeleteLease"] = s.DeleteLease(e.ctx, id)
			for op, err := range ops {
				wantErr(t, op+" with a bad id ("+name+")", err, blobstore.ErrInvalidPartitionID)
			}
		}
		if g, p, d, li := s.bkt.counts(); g+p+d+li != 0 {
			t.Fatalf("bad ids made %d requests, want 0", g+p+d+li)
		}
	}},
	{"UnusualButValidIDs", func(t *testing.T, e *env) {
		s := e.created()
		idsIn := []string{"0", "topic-3", "orders.v2", ".hidden", "ünïcode-分区", "with space", strings.Repeat("x", blobstore.MaxPartitionIDLen)}
		for _, id := range idsIn {
			e.partition(s, id)
			l := e.acquire(s, id)
			noErr(t, "UpdateCheckpoint("+id+")", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1", SequenceNumber: 1}))
		}
		leases, err := s.ListLeases(e.ctx)
		noErr(t, "ListLeases", err)
		if len(leases) != len(idsIn) {
			t.Fatalf("ListLeases = %q, want the %d ids created", ids(leases), len(idsIn))
		}
	}},
}

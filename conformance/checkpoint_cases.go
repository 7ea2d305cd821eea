package conformance

import (
	"testing"

	"github.com/tidemark/tidemark/blobstore"
)

// The EventProcessorHost checkpoint manager's edge cases.
var checkpointCases = []testCase{
	{"GetMissing", func(t *testing.T, e *env) {
		s := e.created()
		cp, found, err := s.GetCheckpoint(e.ctx, "7")
		noErr(t, "GetCheckpoint", err)
		if found || cp != (blobstore.Checkpoint{}) {
			t.Fatalf("GetCheckpoint of a missing partition = %+v, found=%v; want none", cp, found)
		}
	}},
	{"CreateIfNotExists", func(t *testing.T, e *env) {
		s := e.created()
		cp, err := s.CreateCheckpointIfNotExists(e.ctx, "7")
		noErr(t, "CreateCheckpointIfNotExists", err)
		want := blobstore.Checkpoint{PartitionID: "7", Offset: blobstore.StartOfStream, SequenceNumber: 0}
		if cp != want {
			t.Fatalf("created checkpoint = %+v, want %+v", cp, want)
		}
		got, found, err := e.store().GetCheckpoint(e.ctx, "7")
		noErr(t, "GetCheckpoint", err)
		if !found || got != want {
			t.Fatalf("GetCheckpoint from another store = %+v found=%v, want %+v", got, found, want)
		}
	}},
	{"CreateWhenPresentKeepsIt", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "7")
		l := e.acquire(s, "7")
		want := blobstore.Checkpoint{PartitionID: "7", Offset: "1024", SequenceNumber: 12}
		noErr(t, "UpdateCheckpoint", s.UpdateCheckpoint(e.ctx, l, want))
		other := e.store()
		got, err := other.CreateCheckpointIfNotExists(e.ctx, "7")
		noErr(t, "CreateCheckpointIfNotExists when present", err)
		if got != want {
			t.Fatalf("CreateCheckpointIfNotExists returned %+v, want the stored %+v", got, want)
		}
		noErr(t, "owner's checkpoint after the no-op create",
			s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "2048", SequenceNumber: 13}))
	}},
	{"UpdateAndGet", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "p")
		l := e.acquire(s, "p")
		for i := int64(1); i <= 5; i++ {
			cp := blobstore.Checkpoint{PartitionID: "p", Offset: "o" + string(rune('0'+i)), SequenceNumber: i}
			noErr(t, "UpdateCheckpoint", s.UpdateCheckpoint(e.ctx, l, cp))
			got, found, err := e.store().GetCheckpoint(e.ctx, "p")
			noErr(t, "GetCheckpoint", err)
			if !found || got != cp {
				t.Fatalf("after update %d: GetCheckpoint = %+v found=%v, want %+v", i, got, found, cp)
			}
		}
	}},
	{"OffsetOrSequenceAlone", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "p")
		l := e.acquire(s, "p")
		for _, cp := range []blobstore.Checkpoint{
			{PartitionID: "p", Offset: "49653", SequenceNumber: blobstore.NoSequenceNumber},
			{PartitionID: "p", SequenceNumber: 812},
			{PartitionID: "p", Offset: "-1", SequenceNumber: -1},
		} {
			noErr(t, "UpdateCheckpoint", s.UpdateCheckpoint(e.ctx, l, cp))
			got, found, err := e.store().GetCheckpoint(e.ctx, "p")
			noErr(t, "GetCheckpoint", err)
			if !found || got != cp {
				t.Fatalf("GetCheckpoint = %+v found=%v, want %+v", got, found, cp)
			}
		}
		err := s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{SequenceNumber: blobstore.NoSequenceNumber})
		wantErr(t, "a checkpoint with neither field", err, blobstore.ErrInvalidArgument)
	}},
	{"DeleteMissingIsSuccess", func(t *testing.T, e *env) {
		s := e.created()
		noErr(t, "DeleteCheckpoint of a missing partition", s.DeleteCheckpoint(e.ctx, "nope"))
		e.partition(s, "x")
		noErr(t, "DeleteCheckpoint", s.DeleteCheckpoint(e.ctx, "x"))
		noErr(t, "DeleteCheckpoint again", s.DeleteCheckpoint(e.ctx, "x"))
	}},
	{"DeleteThenGetReportsNone", func(t *testing.T, e *env) {
		s := e.created()
		_, err := s.CreateCheckpointIfNotExists(e.ctx, "3")
		noErr(t, "CreateCheckpointIfNotExists", err)
		noErr(t, "DeleteCheckpoint", s.DeleteCheckpoint(e.ctx, "3"))
		if _, found, err := e.store().GetCheckpoint(e.ctx, "3"); err != nil || found {
			t.Fatalf("GetCheckpoint after delete: found=%v err=%v; want none", found, err)
		}
		cp, err := s.CreateCheckpointIfNotExists(e.ctx, "3")
		noErr(t, "CreateCheckpointIfNotExists after delete", err)
		if cp.Offset != blobstore.StartOfStream || cp.SequenceNumber != 0 {
			t.Fatalf("re-created checkpoint = %+v, want start of stream", cp)
		}
	}},
	{"DeleteKeepsLiveLease", func(t *testing.T, e *env) {
		owner, admin := e.created(), e.store()
		e.partition(owner, "3")
		l := e.acquire(owner, "3")
		noErr(t, "UpdateCheckpoint", owner.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "10", SequenceNumber: 10}))
		noErr(t, "DeleteCheckpoint by another host", admin.DeleteCheckpoint(e.ctx, "3"))
		got, found, err := admin.GetLease(e.ctx, "3")
		noErr(t, "GetLease", err)
		if !found || got.Owner != owner.Owner() || got.Token != l.Token || got.Epoch != l.Epoch {
			t.Fatalf("lease after DeleteCheckpoint = %+v; want still held by %s at epoch %d", got, owner.Owner(), l.Epoch)
		}
		if got.Checkpoint != nil {
			t.Fatalf("checkpoint after DeleteCheckpoint = %+v, want none", got.Checkpoint)
		}
		_, err = admin.Acquire(e.ctx, "3")
		wantErr(t, "Acquire after DeleteCheckpoint", err, blobstore.ErrLeaseHeld)
		e.clock.Advance(renewInterval)
		noErr(t, "owner's Renew after DeleteCheckpoint", owner.Renew(e.ctx, l))
		cp := blobstore.Checkpoint{PartitionID: "3", Offset: "11", SequenceNumber: 11}
		noErr(t, "owner's UpdateCheckpoint after DeleteCheckpoint", owner.UpdateCheckpoint(e.ctx, l, cp))
		if got, found, _ := admin.GetCheckpoint(e.ctx, "3"); !found || got != cp {
			t.Fatalf("checkpoint = %+v found=%v, want %+v", got, found, cp)
		}
	}},
	{"IdenticalRewriteChangesVersion", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "v")
		l := e.acquire(s, "v")
		cp := blobstore.Checkpoint{Offset: "42", SequenceNumber: 42}
		seen := map[string]bool{e.raw(e.key("v")).Version: true}
		for i := 0; i < 3; i++ {
			noErr(t, "UpdateCheckpoint", s.UpdateCheckpoint(e.ctx, l, cp))
			v := e.raw(e.key("v")).Version
			if seen[v] {
				t.Fatalf("rewrite %d of an identical checkpoint kept version %q", i+1, v)
			}
			seen[v] = true
		}
	}},
	{"InvalidCheckpointRefused", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "c")
		l := e.acquire(s, "c")
		s.bkt.reset()
		for _, cp := range []blobstore.Checkpoint{
			{Offset: "", SequenceNumber: blobstore.NoSequenceNumber},
			{Offset: "1", SequenceNumber: -2},
			{PartitionID: "other", Offset: "1"},
			{Offset: string(make([]byte, blobstore.MaxOffsetLen+1))},
		} {
			wantErr(t, "UpdateCheckpoint("+cp.Offset+")", s.UpdateCheckpoint(e.ctx, l, cp), blobstore.ErrInvalidArgument)
		}
		if g, p, d, li := s.bkt.counts(); g+p+d+li != 0 {
			t.Fatalf("invalid checkpoints made %d requests, want 0", g+p+d+li)
		}
	}},
}

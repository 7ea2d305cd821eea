package conformance

import (
	"testing"

	"github.com/tidemark/tidemark/blobstore"
)

// Operator edits: refused while a host holds the lease, fenced when forced.
var adminCases = []testCase{
	{"SetCheckpointOnFreeLease", func(t *testing.T, e *env) {
		s, admin := e.created(), e.store()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		noErr(t, "Release", s.Release(e.ctx, l))
		cp := blobstore.Checkpoint{PartitionID: "0", Offset: "10", SequenceNumber: 10}
		got, err := admin.SetCheckpoint(e.ctx, cp, nil)
		noErr(t, "SetCheckpoint", err)
		if got.Epoch != l.Epoch || got.Owner != "" {
			t.Fatalf("an edit of a free lease changed its ownership: %+v", got)
		}
		if stored, _, _ := s.GetCheckpoint(e.ctx, "0"); stored != cp {
			t.Fatalf("stored %+v, want %+v", stored, cp)
		}
	}},
	{"SetCheckpointRefusedWhileHeld", func(t *testing.T, e *env) {
		s, admin := e.created(), e.store()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		before := e.raw(e.key("0"))
		_, err := admin.SetCheckpoint(e.ctx, blobstore.Checkpoint{PartitionID: "0", Offset: "10"}, nil)
		wantErr(t, "unforced edit of a held lease", err, blobstore.ErrLeaseHeld)
		if after := e.raw(e.key("0")); after.Version != before.Version {
			t.Fatal("a refused edit changed the record")
		}
		noErr(t, "owner's checkpoint after a refused edit", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "11"}))
	}},
	{"ForcedEditFencesOwner", func(t *testing.T, e *env) {
		s, admin, next := e.created(), e.store(), e.store()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		noErr(t, "UpdateCheckpoint", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "100", SequenceNumber: 100}))
		cp := blobstore.Checkpoint{PartitionID: "0", Offset: "10", SequenceNumber: 10}
		got, err := admin.SetCheckpoint(e.ctx, cp, &blobstore.EditOptions{Force: true})
		noErr(t, "forced SetCheckpoint", err)
		if got.Owner != "" || got.Epoch != l.Epoch+1 {
			t.Fatalf("forced edit = %+v, want free at epoch %d", got, l.Epoch+1)
		}
		wantErr(t, "owner's checkpoint after a forced edit", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "101", SequenceNumber: 101}), blobstore.ErrLeaseLost)
		if stored, _, _ := admin.GetCheckpoint(e.ctx, "0"); stored != cp {
			t.Fatalf("stored %+v, want the operator's %+v", stored, cp)
		}
		ln := e.acquire(next, "0")
		if ln.Epoch != l.Epoch+2 || ln.Checkpoint == nil || *ln.Checkpoint != cp {
			t.Fatalf("next owner got %+v, want epoch %d at the operator's checkpoint", ln, l.Epoch+2)
		}
	}},
	{"ForceRelease", func(t *testing.T, e *env) {
		s, admin, next := e.created(), e.store(), e.store()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		got, err := admin.ForceRelease(e.ctx, "0")
		noErr(t, "ForceRelease", err)
		if got.Owner != "" || got.Epoch != l.Epoch+1 {
			t.Fatalf("force-released lease = %+v", got)
		}
		e.clock.Advance(renewInterval)
		wantErr(t, "owner's Renew after ForceRelease", s.Renew(e.ctx, l), blobstore.ErrLeaseLost)
		e.acquire(next, "0")
		again, err := admin.ForceRelease(e.ctx, "0")
		noErr(t, "ForceRelease again", err)
		free, err := admin.ForceRelease(e.ctx, "0")
		noErr(t, "ForceRelease of a free lease", err)
		if free.Epoch != again.Epoch {
			t.Fatalf("releasing a free lease bumped the epoch %d -> %d", again.Epoch, free.Epoch)
		}
	}},
	{"EditOfMissingPartition", func(t *testing.T, e *env) {
		admin := e.created()
		_, err := admin.SetCheckpoint(e.ctx, blobstore.Checkpoint{PartitionID: "nope", Offset: "1"}, nil)
		wantErr(t, "SetCheckpoint of a missing partition", err, blobstore.ErrPartitionNotFound)
		_, err = admin.ForceRelease(e.ctx, "nope")
		wantErr(t, "ForceRelease of a missing partition", err, blobstore.ErrPartitionNotFound)
		_, err = admin.SetCheckpoint(e.ctx, blobstore.Checkpoint{PartitionID: "a/b", Offset: "1"}, nil)
		wantErr(t, "SetCheckpoint with a bad id", err, blobstore.ErrInvalidPartitionID)
	}},
}

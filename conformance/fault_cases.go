package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/tidemark/tidemark/blobstore"
)

// Faults are injected by wrapping the provider's driver (instrumented): the
// provider itself is real. Provider packages add transport-level injection of
// their own.
var faultCases = []testCase{
	{"LostResponseOnCheckpoint", func(t *testing.T, e *env) {
		for _, f := range []fault{applyThenLose, applyThenEcho412} {
			s := e.created()
			id := fmt.Sprintf("lost-%d", f)
			e.partition(s, id)
			l := e.acquire(s, id)
			cp := blobstore.Checkpoint{PartitionID: id, Offset: "77", SequenceNumber: 77}
			s.bkt.setFault(once("put", f))
			noErr(t, "UpdateCheckpoint whose response was lost", s.UpdateCheckpoint(e.ctx, l, cp))
			s.bkt.setFault(nil)
			if got, found, _ := e.store().GetCheckpoint(e.ctx, id); !found || got != cp {
				t.Fatalf("stored checkpoint = %+v, want %+v", got, cp)
			}
			// The store learned the new version from the read-back: the next
			// write is one request again.
			s.bkt.reset()
			noErr(t, "next UpdateCheckpoint", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "78", SequenceNumber: 78}))
			if g, p, _, _ := s.bkt.counts(); g != 0 || p != 1 {
				t.Fatalf("next checkpoint cost %d reads and %d writes, want 0 and 1", g, p)
			}
		}
	}},
	{"LostResponseOnAcquire", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		a.bkt.setFault(once("put", applyThenLose))
		l := e.acquire(a, "0")
		a.bkt.setFault(nil)
		got, _, err := b.GetLease(e.ctx, "0")
		noErr(t, "GetLease", err)
		if got.Token != l.Token || got.Owner != a.Owner() {
			t.Fatalf("stored lease %+v, want the acquirer's %+v", got, l)
		}
		noErr(t, "UpdateCheckpoint", a.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1"}))
	}},
	{"LostResponseOnCreate", func(t *testing.T, e *env) {
		s := e.created()
		s.bkt.setFault(once("put", applyThenLose))
		cp, err := s.CreateCheckpointIfNotExists(e.ctx, "0")
		noErr(t, "CreateCheckpointIfNotExists whose response was lost", err)
		if cp.Offset != blobstore.StartOfStream {
			t.Fatalf("created checkpoint = %+v", cp)
		}
		s.bkt.setFault(once("put", applyThenEcho412))
		_, err = s.CreateLeaseIfNotExists(e.ctx, "1")
		noErr(t, "CreateLeaseIfNotExists whose retry met its own success", err)
		leases, err := e.store().ListLeases(e.ctx)
		noErr(t, "ListLeases", err)
		if len(leases) != 2 {
			t.Fatalf("ListLeases = %v, want 0 and 1", ids(leases))
		}
	}},
	{"NotAppliedIsRetried", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		s.bkt.setFault(once("put", failBeforeApply))
		cp := blobstore.Checkpoint{PartitionID: "0", Offset: "5", SequenceNumber: 5}
		noErr(t, "UpdateCheckpoint after a failed attempt", s.UpdateCheckpoint(e.ctx, l, cp))
		if got, _, _ := e.store().GetCheckpoint(e.ctx, "0"); got != cp {
			t.Fatalf("stored checkpoint = %+v, want %+v", got, cp)
		}
	}},
	{"LostWhileStolen", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		// The steal lands between the owner's failed write and its read-back.
		stole := errors.New("fault never injected")
		a.bkt.setFault(func(op, _ string) fault {
			if op == "put" && stole != nil && stole.Error() == "fault never injected" {
				_, stole = b.Steal(e.ctx, "0")
				return failBeforeApply
			}
			return none
		})
		err := a.UpdateCheckpoint(e.ctx, la, blobstore.Checkpoint{Offset: "9"})
		a.bkt.setFault(nil)
		noErr(t, "Steal", stole)
		wantErr(t, "owner's write that failed while the lease was stolen", err, blobstore.ErrLeaseLost)
	}},
	{"CheckpointRacesDeleteCheckpoint", func(t *testing.T, e *env) {
		// Another host's DeleteCheckpoint lands between the owner's read of
		// its version and its write: both writes carry the owner's token and
		// the same next counter, yet only one can be stored. The owner must
		// not take the other write for its own.
		owner, admin := e.created(), e.store()
		e.partition(owner, "0")
		l := e.acquire(owner, "0")
		noErr(t, "UpdateCheckpoint", owner.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1", SequenceNumber: 1}))
		adminErr := errors.New("fault never injected")
		owner.bkt.setFault(func(op, _ string) fault {
			if op == "put" && adminErr != nil && adminErr.Error() == "fault never injected" {
				adminErr = admin.DeleteCheckpoint(e.ctx, "0")
			}
			return none
		})
		want := blobstore.Checkpoint{PartitionID: "0", Offset: "2", SequenceNumber: 2}
		err := owner.UpdateCheckpoint(e.ctx, l, want)
		owner.bkt.setFault(nil)
		noErr(t, "admin's DeleteCheckpoint", adminErr)
		noErr(t, "owner's UpdateCheckpoint racing a DeleteCheckpoint", err)
		got, found, err := e.store().GetCheckpoint(e.ctx, "0")
		noErr(t, "GetCheckpoint", err)
		if !found || got != want {
			t.Fatalf("acknowledged checkpoint lost: stored %+v (found %v), want %+v", got, found, want)
		}
	}},
	{"OutageIsReported", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		s.bkt.setFault(func(string, string) fault { return failBeforeApply })
		err := s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1", SequenceNumber: 1})
		wantErr(t, "UpdateCheckpoint during an outage", err, blobstore.ErrUnavailable)
		_, err = e.store(func(o *blobstore.Options) { o.Owner = "x" }).ListLeases(e.ctx)
		noErr(t, "ListLeases through an unaffected store", err)
		s.bkt.setFault(nil)
		cp := blobstore.Checkpoint{PartitionID: "0", Offset: "2", SequenceNumber: 2}
		noErr(t, "UpdateCheckpoint after the outage", s.UpdateCheckpoint(e.ctx, l, cp))
		if got, _, _ := e.store().GetCheckpoint(e.ctx, "0"); got != cp {
			t.Fatalf("stored checkpoint = %+v, want %+v", got, cp)
		}
	}},
}

// Records the store cannot vouch for: every operation reports ErrCorrupt and
// the bytes stay as they were.
var corruptCases = []testCase{
	{"ReportedAndUntouched", func(t *testing.T, e *env) {
		bad := map[string][]byte{
			"not-json":        []byte("{not json"),
			"truncated":       []byte(`{"schema":1,"partition":"truncated","counter":3,"ep`),
			"null":            []byte("null"),
			"array":           []byte("[]"),
			"unknown-schema":  []byte(`{"schema":7,"partition":"unknown-schema","counter":1,"future":true}`),
			"no-schema":       []byte(`{"partition":"no-schema","counter":1}`),
			"wrong-partition": []byte(`{"schema":1,"partition":"elsewhere","epoch":1,"counter":1,"updated":"2026-01-01T00:00:00Z"}`),
			"unknown-field":   []byte(`{"schema":1,"partition":"unknown-field","epoch":1,"counter":1,"updated":"2026-01-01T00:00:00Z","x":1}`),
		}
		s := e.created()
		for id, data := range bad {
			e.putRaw(e.key(id), data)
		}
		for id, data := range bad {
			ops := map[string]error{}
			_, _, ops["GetCheckpoint"] = s.GetCheckpoint(e.ctx, id)
			_, _, ops["GetLease"] = s.GetLease(e.ctx, id)
			_, ops["Acquire"] = s.Acquire(e.ctx, id)
			_, ops["Steal"] = s.Steal(e.ctx, id)
			_, ops["CreateCheckpointIfNotExists"] = s.CreateCheckpointIfNotExists(e.ctx, id)
			_, ops["CreateLeaseIfNotExists"] = s.CreateLeaseIfNotExists(e.ctx, id)
			ops["DeleteCheckpoint"] = s.DeleteCheckpoint(e.ctx, id)
			ops["DeleteLease"] = s.DeleteLease(e.ctx, id)
			for op, err := range ops {
				wantErr(t, op+" on "+id, err, blobstore.ErrCorrupt)
				var ce *blobstore.CorruptRecordError
				if !errors.As(err, &ce) || ce.Key != e.key(id) {
					t.Errorf("%s on %s: error %v does not name key %q", op, id, err, e.key(id))
				}
			}
			if got := e.raw(e.key(id)).Data; !bytes.Equal(got, data) {
				t.Fatalf("%s: bytes changed to %q", id, got)
			}
		}
		_, err := s.ListLeases(e.ctx)
		wantErr(t, "ListLeases", err, blobstore.ErrCorrupt)
	}},
	{"ListSkippingCorrupt", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "good")
		e.putRaw(e.key("bad"), []byte("{not json"))
		leases, corrupt, err := s.ListLeasesSkippingCorrupt(e.ctx)
		noErr(t, "ListLeasesSkippingCorrupt", err)
		if len(leases) != 1 || leases[0].PartitionID != "good" {
			t.Fatalf("readable leases %v, want [good]", ids(leases))
		}
		if len(corrupt) != 1 || corrupt[0].Key != e.key("bad") {
			t.Fatalf("corrupt records %v, want %s", corrupt, e.key("bad"))
		}
	}},
	{"CorruptedUnderOwner", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		garbage := []byte(`{"schema":1,"partition":"0"`)
		e.putRaw(e.key("0"), garbage)
		wantErr(t, "owner's checkpoint over a corrupted record", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1"}), blobstore.ErrCorrupt)
		e.clock.Advance(renewInterval)
		wantErr(t, "owner's renew over a corrupted record", s.Renew(e.ctx, l), blobstore.ErrCorrupt)
		if got := e.raw(e.key("0")).Data; !bytes.Equal(got, garbage) {
			t.Fatalf("bytes changed to %q", got)
		}
	}},
}

package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
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
	{"LandedThenOverwrittenIsUnknown", func(t *testing.T, e *env) {
		// The owner's write lands, its response is lost (or an SDK retry
		// meets a failed precondition), and another host writes on top of it
		// before the owner reads back. The owner cannot know its write
		// landed, and must not claim it did not: a refusal (ErrLeaseLost,
		// ErrLeaseHeld) promises that nothing was written.
		type op struct {
			name string
			do   func(a opened, l blobstore.Lease) error
			// by is another host's write on top of the owner's.
			by func(b opened) error
		}
		steal := func(b opened) error { _, err := b.Steal(e.ctx, "0"); return err }
		ops := []op{
			{"UpdateCheckpoint", func(a opened, l blobstore.Lease) error {
				return a.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "42", SequenceNumber: 42})
			}, steal},
			{"Release", func(a opened, l blobstore.Lease) error { return a.Release(e.ctx, l) },
				func(b opened) error { _, err := b.Acquire(e.ctx, "0"); return err }},
			{"UpdateLease", func(a opened, l blobstore.Lease) error { return a.UpdateLease(e.ctx, l, "m") }, steal},
			{"Acquire", nil, steal},
		}
		for _, f := range []fault{applyThenLose, applyThenEcho412} {
			for _, o := range ops {
				t.Run(fmt.Sprintf("%s/%d", o.name, f), func(t *testing.T) {
					e := e.sub(t)
					a, b := e.created(func(o *blobstore.Options) { o.Owner = "a" }), e.store(func(o *blobstore.Options) { o.Owner = "b" })
					e.partition(a, "0")
					var l blobstore.Lease
					if o.do != nil {
						l = e.acquire(a, "0")
					}
					var byErr error
					a.bkt.setFaultThen(once("put", f), func() { byErr = o.by(b) })
					var err error
					if o.do != nil {
						err = o.do(a, l)
					} else {
						_, err = a.Acquire(e.ctx, "0")
					}
					a.bkt.setFault(nil)
					noErr(t, "the other host's write", byErr)
					wantErr(t, o.name+" that landed and was overwritten before the read-back", err, blobstore.ErrOutcomeUnknown)
					if errors.Is(err, blobstore.ErrLeaseLost) || errors.Is(err, blobstore.ErrLeaseHeld) {
						t.Fatalf("%s: reported as a refusal although it landed: %v", o.name, err)
					}
					if o.name == "UpdateCheckpoint" {
						// It did land: the thief's record carries it on.
						got, _, _ := e.store().GetCheckpoint(e.ctx, "0")
						if got.Offset != "42" {
							t.Fatalf("stored checkpoint %+v, want the owner's offset 42", got)
						}
						// The owner reads before its next write and learns the truth.
						wantErr(t, "the owner's next checkpoint", a.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "43"}), blobstore.ErrLeaseLost)
					}
				})
			}
		}
	}},
	{"LateLandingThenOverwrittenIsUnknown", func(t *testing.T, e *env) {
		// The first attempt times out but is still in flight; it lands just
		// before the retry, which then meets a failed precondition, and
		// another host writes on top before the read-back. The 412 answers
		// the retry only: the first attempt landed, so this is no refusal.
		a, b := e.created(func(o *blobstore.Options) { o.Owner = "a" }), e.store(func(o *blobstore.Options) { o.Owner = "b" })
		e.partition(a, "0")
		l := e.acquire(a, "0")
		var stealErr error
		a.bkt.setFaultThen(once("put", lateApply), func() { _, stealErr = b.Steal(e.ctx, "0") })
		err := a.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "42", SequenceNumber: 42})
		a.bkt.setFault(nil)
		noErr(t, "the other host's Steal", stealErr)
		if errors.Is(err, blobstore.ErrLeaseLost) {
			t.Fatalf("a checkpoint whose first attempt landed late was reported as a refusal: %v", err)
		}
		wantErr(t, "a late-landing checkpoint overwritten before the read-back", err, blobstore.ErrOutcomeUnknown)
		if got, _, _ := e.store().GetCheckpoint(e.ctx, "0"); got.Offset != "42" {
			t.Fatalf("stored checkpoint %+v: the late attempt did not land, the fault was not the one meant", got)
		}
	}},
	{"RefusedThenReadBackFailedKeepsTheLease", func(t *testing.T, e *env) {
		// A definite refusal (another host's DeleteCheckpoint moved the
		// version) whose read-back fails says nothing about who holds the
		// lease: the owner must not be told its record was deleted.
		owner, admin := e.created(), e.store()
		e.partition(owner, "0")
		l := e.acquire(owner, "0")
		noErr(t, "DeleteCheckpoint by another host", admin.DeleteCheckpoint(e.ctx, "0"))
		var failGet atomic.Bool
		failGet.Store(true)
		owner.bkt.setFault(func(op, _ string) fault {
			if op == "get" && failGet.Swap(false) {
				return failBeforeApply
			}
			return none
		})
		err := owner.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "7", SequenceNumber: 7})
		owner.bkt.setFault(nil)
		if errors.Is(err, blobstore.ErrLeaseLost) {
			t.Fatalf("a refusal whose read-back failed dropped a lease the owner still holds: %v", err)
		}
		wantErr(t, "a refusal whose read-back failed", err, blobstore.ErrUnavailable)
		noErr(t, "the owner's next checkpoint", owner.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "8", SequenceNumber: 8}))
	}},
	{"RefusalMeansNothingWritten", func(t *testing.T, e *env) {
		// The other side of the rule: a write refused with a definite
		// precondition failure, or one whose read-back finds a rival at the
		// same counter, is a refusal, and the stored record is the rival's.
		for _, f := range []fault{none, failBeforeApply} {
			t.Run(fmt.Sprint(f), func(t *testing.T) {
				e := e.sub(t)
				a, b := e.created(func(o *blobstore.Options) { o.Owner = "a" }), e.store(func(o *blobstore.Options) { o.Owner = "b" })
				e.partition(a, "0")
				l := e.acquire(a, "0")
				var stolen blobstore.Lease
				var stealErr error
				a.bkt.setFault(func(op, _ string) fault {
					if op == "put" && stolen.Token == "" && stealErr == nil {
						stolen, stealErr = b.Steal(e.ctx, "0")
						return f
					}
					return none
				})
				err := a.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "9"})
				a.bkt.setFault(nil)
				noErr(t, "Steal", stealErr)
				wantErr(t, "the fenced owner's checkpoint", err, blobstore.ErrLeaseLost)
				got, _, err := e.store().GetLease(e.ctx, "0")
				noErr(t, "GetLease", err)
				if got.Token != stolen.Token || (got.Checkpoint != nil && got.Checkpoint.Offset == "9") {
					t.Fatalf("stored %+v after a refusal, want the thief's record without offset 9", got)
				}
			})
		}
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
	{"RemoveCorruptIsFenced", func(t *testing.T, e *env) {
		s := e.created()
		garbage := []byte(`{"schema":1,"partition":"0","epoch":7,"counter":9,"owner":"x"`)
		e.putRaw(e.key("0"), garbage)
		data, version, err := s.ReadRecordBytes(e.ctx, "0")
		noErr(t, "ReadRecordBytes", err)
		if !bytes.Equal(data, garbage) {
			t.Fatalf("ReadRecordBytes = %q, want the stored bytes", data)
		}
		e.putRaw(e.key("0"), append(garbage, ' ')) // changed after the inspection
		wantErr(t, "RemoveCorrupt of a record that changed since it was inspected", s.RemoveCorrupt(e.ctx, "0", version), blobstore.ErrInvalidArgument)
		if got := e.raw(e.key("0")).Data; !bytes.Equal(got, append(garbage, ' ')) {
			t.Fatalf("a refused RemoveCorrupt changed the bytes to %q", got)
		}
		_, version, err = s.ReadRecordBytes(e.ctx, "0")
		noErr(t, "ReadRecordBytes", err)
		noErr(t, "RemoveCorrupt", s.RemoveCorrupt(e.ctx, "0", version))
		if _, found, err := s.GetLease(e.ctx, "0"); err != nil || found {
			t.Fatalf("GetLease after RemoveCorrupt: found %v, err %v; want absent", found, err)
		}
		e.partition(s, "0")
		l := e.acquire(s, "0")
		if l.Epoch != 8 {
			t.Fatalf("epoch after RemoveCorrupt and a new acquisition = %d, want 8: epochs go on from the corrupt record's", l.Epoch)
		}
		_, version, err = s.ReadRecordBytes(e.ctx, "0")
		noErr(t, "ReadRecordBytes", err)
		wantErr(t, "RemoveCorrupt of a readable record", s.RemoveCorrupt(e.ctx, "0", version), blobstore.ErrInvalidArgument)
		_, _, err = s.ReadRecordBytes(e.ctx, "missing")
		wantErr(t, "ReadRecordBytes of a missing record", err, blobstore.ErrPartitionNotFound)
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

// Records at the edge of their number space, and a store that lost writes.
var edgeCases = []testCase{
	{"NoWriteWrapsEpochOrCounter", func(t *testing.T, e *env) {
		// An epoch that wrapped to 0 would break "epochs never decrease"
		// (fencing downstream); a counter that wrapped to 0 would write a
		// record the decoder rejects. The Store refuses, and leaves the bytes.
		const max = "18446744073709551615"
		recs := map[string]string{
			"epoch-free":   `{"schema":1,"partition":"epoch-free","epoch":` + max + `,"counter":5,"updated":"2026-01-01T00:00:00Z"}`,
			"counter-free": `{"schema":1,"partition":"counter-free","epoch":3,"counter":` + max + `,"updated":"2026-01-01T00:00:00Z"}`,
			"counter-held": `{"schema":1,"partition":"counter-held","owner":"x","token":"t","epoch":3,"counter":` + max + `,"updated":"2026-01-01T00:00:00Z"}`,
		}
		s := e.created()
		for id, data := range recs {
			e.putRaw(e.key(id), []byte(data))
		}
		for id, data := range recs {
			// Every operation that would write the record: those that take
			// a new epoch on all three, those that only count a write on
			// the two at the counter's maximum.
			ops := map[string]error{}
			_, ops["Steal"] = s.Steal(e.ctx, id)
			switch id {
			case "counter-held":
				_, ops["ForceRelease"] = s.ForceRelease(e.ctx, id)
				_, ops["SetCheckpoint"] = s.SetCheckpoint(e.ctx, blobstore.Checkpoint{PartitionID: id, Offset: "9"}, &blobstore.EditOptions{Force: true})
			case "counter-free":
				_, ops["Acquire"] = s.Acquire(e.ctx, id)
				ops["DeleteLease"] = s.DeleteLease(e.ctx, id)
				_, ops["SetCheckpoint"] = s.SetCheckpoint(e.ctx, blobstore.Checkpoint{PartitionID: id, Offset: "9"}, nil)
			default:
				_, ops["Acquire"] = s.Acquire(e.ctx, id)
			}
			for op, err := range ops {
				wantErr(t, op+" on "+id, err, blobstore.ErrCorrupt)
			}
			if got := e.raw(e.key(id)).Data; string(got) != data {
				t.Fatalf("%s: bytes changed to %s", id, got)
			}
		}
		// Below the maximum, everything still works.
		e.putRaw(e.key("near"), []byte(`{"schema":1,"partition":"near","epoch":18446744073709551614,"counter":18446744073709551613,"updated":"2026-01-01T00:00:00Z"}`))
		l, err := s.Acquire(e.ctx, "near")
		noErr(t, "Acquire one below the maximum epoch", err)
		if l.Epoch != 18446744073709551615 {
			t.Fatalf("epoch %d, want the maximum", l.Epoch)
		}
		noErr(t, "UpdateCheckpoint at the last counter", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1"}))
		wantErr(t, "UpdateCheckpoint past the last counter", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "2"}), blobstore.ErrCorrupt)
	}},
	{"CounterRegressionIsWarned", func(t *testing.T, e *env) {
		// A store that lost acknowledged writes (Azurite's disk mode killed,
		// a restore from backup) hands back an older record. Fencing holds,
		// but the checkpoint went back: the Store must say so, once.
		var logged bytes.Buffer
		var mu sync.Mutex
		logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logged, mu: &mu}, nil))
		s := e.created(func(o *blobstore.Options) { o.Logger = logger })
		e.partition(s, "0")
		l := e.acquire(s, "0")
		old := e.raw(e.key("0")).Data
		for i := 1; i <= 3; i++ {
			noErr(t, "UpdateCheckpoint", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: fmt.Sprint(i)}))
		}
		e.putRaw(e.key("0"), old) // the last three writes are lost
		_, _, err := s.GetLease(e.ctx, "0")
		noErr(t, "GetLease", err)
		_, _, err = s.GetLease(e.ctx, "0")
		noErr(t, "GetLease again", err)
		mu.Lock()
		out := logged.String()
		mu.Unlock()
		if n := strings.Count(out, "counter went backwards"); n != 1 || !strings.Contains(out, e.key("0")) {
			t.Fatalf("want one warning naming %s, got %d in:\n%s", e.key("0"), n, out)
		}
	}},
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

// Take: the primitive a balancer that decides for itself uses (the Event
// Hubs Processor's load balancer claims with the version it listed), and the
// ownership version it compares.
var takeCases = []testCase{
	{"CreateOnly", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		l, err := a.Take(e.ctx, "0", &blobstore.TakeOptions{Create: true})
		noErr(t, "Take(Create) of a missing partition", err)
		if l.Owner != a.Owner() || l.Epoch != 1 || l.Checkpoint != nil || l.Version == "" {
			t.Fatalf("created lease %+v: want owned by %s, epoch 1, no checkpoint, a version", l, a.Owner())
		}
		before := e.raw(e.key("0"))
		_, err = b.Take(e.ctx, "0", &blobstore.TakeOptions{Create: true})
		wantErr(t, "a second create-only Take", err, blobstore.ErrLeaseHeld)
		if after := e.raw(e.key("0")); !bytes.Equal(after.Data, before.Data) {
			t.Fatalf("a refused Take wrote:\n%s\nwas\n%s", after.Data, before.Data)
		}
		got, _, err := b.GetLease(e.ctx, "0")
		noErr(t, "GetLease", err)
		if got.Owner != a.Owner() || got.Version != l.Version || got.Checkpoint != nil {
			t.Fatalf("another store reads %+v, want %+v", got, l)
		}
		noErr(t, "creator's checkpoint", a.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "10", SequenceNumber: 1}))
	}},
	{"RacingCreatesOneWins", func(t *testing.T, e *env) {
		stores := []opened{e.created()}
		for range 7 {
			stores = append(stores, e.store())
		}
		errs := raceAll(stores, func(s opened) error {
			_, err := s.Take(e.ctx, "0", &blobstore.TakeOptions{Create: true})
			return err
		})
		checkOneWinner(t, e, stores, errs, "0")
	}},
	{"RacingTakesOfOneVersionOneWins", func(t *testing.T, e *env) {
		first := e.created()
		e.partition(first, "0")
		e.acquire(first, "0")
		stores := []opened{}
		var seen string
		for range 8 {
			s := e.store()
			l, _, err := s.GetLease(e.ctx, "0")
			noErr(t, "GetLease", err)
			if seen != "" && l.Version != seen {
				t.Fatalf("two reads of an unchanged lease gave versions %q and %q", seen, l.Version)
			}
			seen = l.Version
			stores = append(stores, s)
		}
		errs := raceAll(stores, func(s opened) error {
			_, err := s.Take(e.ctx, "0", &blobstore.TakeOptions{IfVersion: seen})
			return err
		})
		checkOneWinner(t, e, stores, errs, "0")
	}},
	{"WritesAndHeartbeatsChangeVersion", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		e.partition(a, "0")
		l := e.acquire(a, "0")
		seen := func() blobstore.Lease {
			t.Helper()
			snap, err := b.Scan(e.ctx, &blobstore.ScanOptions{ReadChanged: true})
			noErr(t, "Scan", err)
			if len(snap.Leases) != 1 {
				t.Fatalf("Scan: %+v", snap)
			}
			return snap.Leases[0]
		}
		v0 := seen().Version
		noErr(t, "UpdateCheckpoint", a.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "500", SequenceNumber: 5}))
		v1 := seen().Version
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		v2 := seen().Version
		if v0 == v1 || v1 == v2 || v0 == v2 {
			t.Fatalf("versions before and after a checkpoint and a heartbeat: %q, %q, %q; want three different", v0, v1, v2)
		}
		before := e.raw(e.key("0"))
		for _, v := range []string{v0, v1} {
			_, err := b.Take(e.ctx, "0", &blobstore.TakeOptions{IfVersion: v})
			wantErr(t, "Take at a version its owner renewed since", err, blobstore.ErrLeaseHeld)
		}
		if after := e.raw(e.key("0")); !bytes.Equal(after.Data, before.Data) {
			t.Fatalf("a refused Take wrote:\n%s\nwas\n%s", after.Data, before.Data)
		}
		noErr(t, "the owner's checkpoint after the refused takes", a.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "600", SequenceNumber: 6}))
		taken, err := b.Take(e.ctx, "0", &blobstore.TakeOptions{IfVersion: seen().Version})
		noErr(t, "Take at the current version", err)
		if taken.Owner != b.Owner() || taken.Epoch != l.Epoch+1 || taken.Checkpoint == nil || taken.Checkpoint.SequenceNumber != 6 {
			t.Fatalf("taken lease %+v: want owner %s, epoch %d, checkpoint 6", taken, b.Owner(), l.Epoch+1)
		}
		// The take fenced the owner's presence: its next heartbeat renews
		// nothing, and its writes fail.
		e.clock.Advance(time.Millisecond)
		noErr(t, "the old owner's heartbeat", a.Heartbeat(e.ctx))
		_, err = a.Confirm(e.ctx, l, a.Clock().Now())
		wantErr(t, "the old owner's Confirm", err, blobstore.ErrLeaseLost)
		err = a.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "700", SequenceNumber: 7})
		wantErr(t, "the old owner's checkpoint", err, blobstore.ErrLeaseLost)
	}},
	{"RenewalRacingTakeOneWins", func(t *testing.T, e *env) {
		for round := range 6 {
			t.Run(fmt.Sprint(round), func(t *testing.T) {
				e := e.sub(t)
				a, b := e.created(), e.store()
				noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
				e.partition(a, "0")
				l := e.acquire(a, "0")
				snap, err := b.Scan(e.ctx, &blobstore.ScanOptions{ReadChanged: true})
				noErr(t, "Scan", err)
				v := snap.Leases[0].Version
				e.clock.Advance(time.Millisecond)
				var renewErr, takeErr error
				var wg sync.WaitGroup
				start := make(chan struct{})
				wg.Go(func() {
					<-start
					since := a.Clock().Now()
					if err := a.Heartbeat(e.ctx); err != nil {
						renewErr = err
						return
					}
					_, renewErr = a.Confirm(e.ctx, l, since)
				})
				wg.Go(func() {
					<-start
					_, takeErr = b.Take(e.ctx, "0", &blobstore.TakeOptions{IfVersion: v})
				})
				close(start)
				wg.Wait()
				renewed, took := renewErr == nil, takeErr == nil
				if renewErr != nil && !errors.Is(renewErr, blobstore.ErrLeaseLost) {
					t.Fatalf("renewal: %v", renewErr)
				}
				if takeErr != nil && !errors.Is(takeErr, blobstore.ErrLeaseHeld) {
					t.Fatalf("take: %v", takeErr)
				}
				if renewed == took {
					t.Fatalf("renewal succeeded: %v, take succeeded: %v; want exactly one (renewal: %v, take: %v)", renewed, took, renewErr, takeErr)
				}
				got, _, err := e.store().GetLease(e.ctx, "0")
				noErr(t, "GetLease", err)
				if want := map[bool]string{true: a.Owner(), false: b.Owner()}[renewed]; got.Owner != want {
					t.Fatalf("owner %q, want the winner %q", got.Owner, want)
				}
			})
		}
	}},
	{"FencedOwnerKeepsItsOtherLeases", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		var held []blobstore.Lease
		for i := range 4 {
			e.partition(a, fmt.Sprint(i))
			held = append(held, e.acquire(a, fmt.Sprint(i)))
		}
		// Renewed by heartbeats alone for longer than a lease duration.
		for range 4 {
			e.clock.Advance(renewInterval)
			noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		}
		snap, err := b.Scan(e.ctx, &blobstore.ScanOptions{ReadChanged: true})
		noErr(t, "Scan", err)
		_, err = b.Take(e.ctx, "0", &blobstore.TakeOptions{IfVersion: snap.Leases[0].Version})
		noErr(t, "Take of partition 0, which fences the owner's presence", err)
		e.clock.Advance(time.Millisecond)
		since := a.Clock().Now()
		noErr(t, "the owner's next heartbeat (a new incarnation)", a.Heartbeat(e.ctx))
		_, err = a.Confirm(e.ctx, held[0], since)
		wantErr(t, "Confirm of the taken partition", err, blobstore.ErrLeaseLost)
		for _, l := range held[1:] {
			got, err := a.Confirm(e.ctx, l, since)
			noErr(t, "Confirm of a partition nobody took", err)
			noErr(t, "checkpoint after it", a.UpdateCheckpoint(e.ctx, got, blobstore.Checkpoint{Offset: "1", SequenceNumber: 1}))
			if got.Epoch != l.Epoch {
				t.Fatalf("partition %s came back at epoch %d, want its own %d", l.PartitionID, got.Epoch, l.Epoch)
			}
		}
	}},
	{"VersionWithoutPresenceRefused", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		e.partition(a, "0")
		e.acquire(a, "0")
		// A read, not a listing: B has not seen the presence record that
		// renews the lease, so its Version cannot tell a heartbeat since.
		l, _, err := b.GetLease(e.ctx, "0")
		noErr(t, "GetLease", err)
		key := e.prefix + ".hosts/" + a.Owner()
		before := listAll(t, e, openDriver(t, e), key)
		_, err = b.Take(e.ctx, "0", &blobstore.TakeOptions{IfVersion: l.Version})
		wantErr(t, "Take at a Version without the presence", err, blobstore.ErrLeaseHeld)
		after := listAll(t, e, openDriver(t, e), key)
		if len(before) != 1 || len(after) != 1 || before[0].Version != after[0].Version {
			t.Fatalf("the refused take touched the presence record: %+v -> %+v", before, after)
		}
	}},
	{"LaterFenceByAnotherRefused", func(t *testing.T, e *env) {
		a, b, c := e.created(), e.store(), e.store()
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		for _, id := range []string{"x", "y"} {
			e.partition(a, id)
			e.acquire(a, id)
		}
		snapB, err := b.Scan(e.ctx, &blobstore.ScanOptions{ReadChanged: true})
		noErr(t, "B's Scan", err)
		e.clock.Advance(time.Millisecond)
		noErr(t, "the owner's heartbeat after B saw it", a.Heartbeat(e.ctx))
		snapC, err := c.Scan(e.ctx, &blobstore.ScanOptions{ReadChanged: true})
		noErr(t, "C's Scan", err)
		_, err = c.Take(e.ctx, "y", &blobstore.TakeOptions{IfVersion: snapC.Leases[1].Version})
		noErr(t, "C takes y, fencing the owner's newer presence", err)
		_, err = b.Take(e.ctx, "x", &blobstore.TakeOptions{IfVersion: snapB.Leases[0].Version})
		wantErr(t, "B's take of x at a Version the owner's heartbeat renewed since", err, blobstore.ErrLeaseHeld)
		got, _, err := e.store().GetLease(e.ctx, "x")
		noErr(t, "GetLease", err)
		if got.Owner != a.Owner() {
			t.Fatalf("x is owned by %q, want the owner %q", got.Owner, a.Owner())
		}
	}},
	{"UnknownTakeThatLandedIsAdopted", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		e.acquire(a, "0")
		snap, err := b.Scan(e.ctx, &blobstore.ScanOptions{ReadChanged: true})
		noErr(t, "Scan", err)
		// The take's write lands, its response is lost, and so is the
		// read-back: the outcome is unknown.
		var wrote, readBack atomic.Bool
		b.bkt.setFault(func(op, key string) fault {
			switch {
			case op == "put" && key == e.key("0") && !wrote.Swap(true):
				return applyThenLose
			case op == "get" && key == e.key("0") && wrote.Load() && !readBack.Swap(true):
				return failBeforeApply
			}
			return none
		})
		_, err = b.Take(e.ctx, "0", &blobstore.TakeOptions{IfVersion: snap.Leases[0].Version})
		b.bkt.setFault(nil)
		if err == nil || errors.Is(err, blobstore.ErrLeaseHeld) {
			t.Fatalf("a take whose write and read-back were lost: %v, want an unknown outcome", err)
		}
		l, err := b.Take(e.ctx, "0", &blobstore.TakeOptions{IfVersion: snap.Leases[0].Version})
		noErr(t, "the same take again, which finds its write landed", err)
		if l.Owner != b.Owner() {
			t.Fatalf("adopted lease %+v", l)
		}
		noErr(t, "checkpoint under it", b.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1", SequenceNumber: 1}))
	}},
	{"ConfirmAfterHeartbeatCostsNothing", func(t *testing.T, e *env) {
		a := e.created()
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		e.partition(a, "0")
		l := e.acquire(a, "0")
		e.clock.Advance(renewInterval)
		since := a.Clock().Now()
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		a.bkt.reset()
		got, err := a.Confirm(e.ctx, l, since)
		noErr(t, "Confirm after the heartbeat", err)
		if g, p, _, _ := a.bkt.counts(); g+p != 0 || got.Token != l.Token {
			t.Fatalf("Confirm renewed by the heartbeat made %d requests and returned %+v", g+p, got)
		}
		e.clock.Advance(time.Millisecond)
		again, err := a.Confirm(e.ctx, l, a.Clock().Now())
		noErr(t, "Confirm since after the heartbeat", err)
		if _, p, _, _ := a.bkt.counts(); p != 1 || again.Version == got.Version {
			t.Fatalf("Confirm since after the last renewal wrote %d times, version %q -> %q; want one write and a new version", p, got.Version, again.Version)
		}
	}},
	{"StaleVersionRefusedWritesNothing", func(t *testing.T, e *env) {
		a, b, c := e.created(), e.store(), e.store()
		l, err := a.Take(e.ctx, "0", &blobstore.TakeOptions{Create: true})
		noErr(t, "Take(Create)", err)
		_, err = b.Take(e.ctx, "0", &blobstore.TakeOptions{IfVersion: l.Version})
		noErr(t, "Take with the current version", err)
		before := e.raw(e.key("0"))
		for _, v := range []string{l.Version, "3:abc"} {
			_, err = c.Take(e.ctx, "0", &blobstore.TakeOptions{IfVersion: v})
			wantErr(t, fmt.Sprintf("Take with version %q", v), err, blobstore.ErrLeaseHeld)
		}
		if after := e.raw(e.key("0")); !bytes.Equal(after.Data, before.Data) {
			t.Fatalf("a refused Take wrote:\n%s\nwas\n%s", after.Data, before.Data)
		}
		_, err = c.Take(e.ctx, "missing", &blobstore.TakeOptions{IfVersion: l.Version})
		wantErr(t, "Take of a partition without a record", err, blobstore.ErrPartitionNotFound)
		_, err = c.Take(e.ctx, "0", &blobstore.TakeOptions{IfVersion: "made-up"})
		wantErr(t, "Take with a malformed version", err, blobstore.ErrInvalidArgument)
	}},
	{"OwnLeaseUnchanged", func(t *testing.T, e *env) {
		a := e.created()
		l, err := a.Take(e.ctx, "0", &blobstore.TakeOptions{Create: true})
		noErr(t, "Take(Create)", err)
		a.bkt.reset()
		again, err := a.Take(e.ctx, "0", &blobstore.TakeOptions{IfVersion: l.Version})
		noErr(t, "Take of a lease this store holds", err)
		if again.Token != l.Token || again.Epoch != l.Epoch {
			t.Fatalf("Take of our own lease gave %+v, want %+v unchanged", again, l)
		}
		if _, p, _, _ := a.bkt.counts(); p != 0 {
			t.Fatalf("Take of our own lease wrote %d times", p)
		}
	}},
	{"CreateOverTombstoneKeepsEpochGrowing", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		l, err := a.Take(e.ctx, "0", &blobstore.TakeOptions{Create: true})
		noErr(t, "Take(Create)", err)
		noErr(t, "Release", a.Release(e.ctx, l))
		noErr(t, "DeleteLease", a.DeleteLease(e.ctx, "0"))
		again, err := b.Take(e.ctx, "0", &blobstore.TakeOptions{Create: true})
		noErr(t, "Take(Create) over a tombstone", err)
		if again.Epoch <= l.Epoch || again.Checkpoint != nil {
			t.Fatalf("re-created lease %+v: want an epoch above %d and no checkpoint", again, l.Epoch)
		}
	}},
	{"LostResponseOnCreateIsAdopted", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		a.bkt.setFault(once("put", applyThenLose))
		l, err := a.Take(e.ctx, "0", &blobstore.TakeOptions{Create: true})
		a.bkt.setFault(nil)
		if err != nil {
			// The outcome was unknown: taking again finds it landed.
			l, err = a.Take(e.ctx, "0", &blobstore.TakeOptions{Create: true})
			noErr(t, "Take(Create) after an unknown outcome", err)
		}
		got, _, err := b.GetLease(e.ctx, "0")
		noErr(t, "GetLease", err)
		if got.Token != l.Token || got.Owner != a.Owner() {
			t.Fatalf("stored lease %+v, want the creator's %+v", got, l)
		}
		noErr(t, "creator's checkpoint", a.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1", SequenceNumber: 1}))
	}},
	{"SubStoresAreSeparate", func(t *testing.T, e *env) {
		parent := e.created()
		g1, err := parent.Sub("g1", "x")
		noErr(t, "Sub g1", err)
		g2, err := parent.Sub("g2/", "y")
		noErr(t, "Sub g2", err)
		for _, s := range []*blobstore.Store{g1, g2} {
			noErr(t, "CreateStoreIfNotExists", s.CreateStoreIfNotExists(e.ctx))
		}
		l, err := g1.Take(e.ctx, "0", &blobstore.TakeOptions{Create: true})
		noErr(t, "Take in g1", err)
		if l.Owner != "x" {
			t.Fatalf("g1's lease is owned by %q, want the sub-store's owner x", l.Owner)
		}
		for name, s := range map[string]*blobstore.Store{"g2": g2, "parent": parent.Store} {
			leases, err := s.ListLeases(e.ctx)
			noErr(t, name+" ListLeases", err)
			if len(leases) != 0 {
				t.Fatalf("%s lists g1's lease: %+v", name, leases)
			}
		}
		noErr(t, "close g1", g1.Close())
		if _, err := g2.ListLeases(e.ctx); err != nil {
			t.Fatalf("g2 after g1 closed: %v", err)
		}
		if _, err := parent.Sub("", "z"); !errors.Is(err, blobstore.ErrInvalidArgument) {
			t.Fatalf("Sub without a prefix: %v, want ErrInvalidArgument", err)
		}
		if _, err := parent.Sub("../up", "z"); !errors.Is(err, blobstore.ErrInvalidArgument) {
			t.Fatalf("Sub with a .. prefix: %v, want ErrInvalidArgument", err)
		}
	}},
}

// raceAll runs f on every store at once and returns each one's error.
func raceAll(stores []opened, f func(opened) error) []error {
	errs := make([]error, len(stores))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() {
			<-start
			errs[i] = f(s)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// checkOneWinner asserts that exactly one racer took id, that the others
// were refused with ErrLeaseHeld, and that the record names the winner.
func checkOneWinner(t *testing.T, e *env, stores []opened, errs []error, id string) {
	t.Helper()
	winner := -1
	for i, err := range errs {
		if err != nil && !errors.Is(err, blobstore.ErrLeaseHeld) {
			t.Fatalf("racer %d: %v, want success or ErrLeaseHeld", i, err)
		}
		if err == nil {
			if winner >= 0 {
				t.Fatalf("racers %d and %d both took %q", winner, i, id)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no racer took %q", id)
	}
	got, _, err := e.store().GetLease(e.ctx, id)
	noErr(t, "GetLease", err)
	if got.Owner != stores[winner].Owner() {
		t.Fatalf("%q is owned by %q, want the winner %q", id, got.Owner, stores[winner].Owner())
	}
}

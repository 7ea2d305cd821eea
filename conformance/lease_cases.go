package conformance

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

var leaseCases = []testCase{
	{"AcquireFree", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		if l.Epoch != 1 || l.PartitionID != "0" {
			t.Fatalf("first acquisition = %+v, want epoch 1", l)
		}
		got, found, err := e.store().GetLease(e.ctx, "0")
		noErr(t, "GetLease", err)
		if !found || got.Owner != s.Owner() || got.Token != l.Token || got.Epoch != 1 {
			t.Fatalf("GetLease from another host = %+v, want owner %s epoch 1", got, s.Owner())
		}
	}},
	{"AcquireOwnLeaseIsNoop", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		again := e.acquire(s, "0")
		if again.Token != l.Token || again.Epoch != l.Epoch {
			t.Fatalf("re-acquiring an own live lease changed it: %+v -> %+v", l, again)
		}
		noErr(t, "UpdateCheckpoint with the first handle", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1"}))
	}},
	{"AcquireMissingPartition", func(t *testing.T, e *env) {
		s := e.created()
		_, err := s.Acquire(e.ctx, "ghost")
		wantErr(t, "Acquire of a partition never created", err, blobstore.ErrPartitionNotFound)
	}},
	{"AcquireHeldIsRefused", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		e.acquire(a, "0")
		_, err := b.Acquire(e.ctx, "0")
		wantErr(t, "Acquire of a held lease", err, blobstore.ErrLeaseHeld)
		if !strings.Contains(err.Error(), a.Owner()) {
			t.Errorf("ErrLeaseHeld does not name the holder %q: %v", a.Owner(), err)
		}
	}},
	{"AcquireExpired", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		_, err := b.Acquire(e.ctx, "0") // first sighting starts b's own timer
		wantErr(t, "Acquire at first sighting", err, blobstore.ErrLeaseHeld)
		e.clock.Advance(leaseDuration - 1)
		_, err = b.Acquire(e.ctx, "0")
		wantErr(t, "Acquire just before the lease duration", err, blobstore.ErrLeaseHeld)
		e.clock.Advance(1)
		lb := e.acquire(b, "0")
		if lb.Epoch != la.Epoch+1 {
			t.Fatalf("epoch after taking an expired lease = %d, want %d", lb.Epoch, la.Epoch+1)
		}
		wantErr(t, "old owner's checkpoint", a.UpdateCheckpoint(e.ctx, la, blobstore.Checkpoint{Offset: "9"}), blobstore.ErrLeaseLost)
	}},
	{"RenewedLeaseDoesNotExpire", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		for i := 0; i < 4; i++ {
			_, err := b.Acquire(e.ctx, "0")
			wantErr(t, "Acquire of a renewed lease", err, blobstore.ErrLeaseHeld)
			e.clock.Advance(renewInterval)
			noErr(t, "Renew", a.Renew(e.ctx, la))
		}
		l, _, err := b.GetLease(e.ctx, "0")
		noErr(t, "GetLease", err)
		if l.Expired || l.Free() {
			t.Fatalf("renewed lease observed as %+v", l)
		}
	}},
	{"StealOnPurpose", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		lb, err := b.Steal(e.ctx, "0")
		noErr(t, "Steal", err)
		if lb.Owner != b.Owner() || lb.Epoch != la.Epoch+1 {
			t.Fatalf("stolen lease = %+v, want owner %s epoch %d", lb, b.Owner(), la.Epoch+1)
		}
		e.clock.Advance(renewInterval)
		wantErr(t, "Renew by the robbed owner", a.Renew(e.ctx, la), blobstore.ErrLeaseLost)
	}},
	{"LeaseLostSaysWhy", func(t *testing.T, e *env) {
		// Every ErrLeaseLost is a *LeaseLostError whose Cause tells a
		// steal from an operator's fence, a lapse and a lease not held.
		a, b, admin := e.created(), e.store(), e.store()
		for _, id := range []string{"taken", "fenced", "deleted", "lapsed", "released"} {
			e.partition(a, id)
		}
		cp := blobstore.Checkpoint{Offset: "1"}
		l := e.acquire(a, "taken")
		lb, err := b.Steal(e.ctx, "taken")
		noErr(t, "Steal", err)
		wantLoss(t, "checkpoint after a steal", a.UpdateCheckpoint(e.ctx, l, cp), blobstore.LossTaken, b.Owner(), lb.Epoch)
		l = e.acquire(a, "fenced")
		_, err = admin.SetCheckpoint(e.ctx, blobstore.Checkpoint{PartitionID: "fenced", Offset: "0"}, &blobstore.EditOptions{Force: true})
		noErr(t, "forced SetCheckpoint", err)
		wantLoss(t, "checkpoint after a forced edit", a.UpdateCheckpoint(e.ctx, l, cp), blobstore.LossFenced, "", 0)
		l = e.acquire(a, "deleted")
		_, err = admin.ForceRelease(e.ctx, "deleted") // as tidemark rm --force does
		noErr(t, "ForceRelease", err)
		noErr(t, "DeleteLease", admin.DeleteLease(e.ctx, "deleted"))
		wantLoss(t, "checkpoint after the record was removed", a.UpdateCheckpoint(e.ctx, l, cp), blobstore.LossFenced, "", 0)
		l = e.acquire(a, "lapsed")
		e.clock.Advance(leaseDuration)
		wantLoss(t, "checkpoint after the lease lapsed", a.UpdateCheckpoint(e.ctx, l, cp), blobstore.LossLapsed, "", 0)
		l = e.acquire(a, "released")
		noErr(t, "Release", a.Release(e.ctx, l))
		wantLoss(t, "checkpoint after Release", a.UpdateCheckpoint(e.ctx, l, cp), blobstore.LossNotHeld, "", 0)
	}},
	{"RenewAndRelease", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		for i := 0; i < 3; i++ {
			e.clock.Advance(renewInterval)
			noErr(t, "Renew", a.Renew(e.ctx, la))
		}
		noErr(t, "Release", a.Release(e.ctx, la))
		got, _, err := b.GetLease(e.ctx, "0")
		noErr(t, "GetLease", err)
		if got.Owner != "" || got.Token != "" || !got.Free() {
			t.Fatalf("released lease = %+v, want free", got)
		}
		lb := e.acquire(b, "0") // at once, without waiting for expiry
		if lb.Epoch != la.Epoch+1 {
			t.Fatalf("epoch after release and acquire = %d, want %d", lb.Epoch, la.Epoch+1)
		}
		wantErr(t, "Renew after Release", a.Renew(e.ctx, la), blobstore.ErrLeaseLost)
	}},
	{"RenewAfterStolenIsLost", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		if _, err := b.Steal(e.ctx, "0"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(renewInterval)
		wantErr(t, "Renew after being stolen", a.Renew(e.ctx, la), blobstore.ErrLeaseLost)
		wantErr(t, "Renew again", a.Renew(e.ctx, la), blobstore.ErrLeaseLost)
	}},
	{"ReleaseAfterStolenIsLost", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		lb, err := b.Steal(e.ctx, "0")
		noErr(t, "Steal", err)
		wantErr(t, "Release after being stolen", a.Release(e.ctx, la), blobstore.ErrLeaseLost)
		got, _, err := b.GetLease(e.ctx, "0")
		noErr(t, "GetLease", err)
		if got.Token != lb.Token {
			t.Fatalf("a zombie's release freed the new owner's lease: %+v", got)
		}
	}},
	{"ZombieCheckpointRejected", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		noErr(t, "UpdateCheckpoint", a.UpdateCheckpoint(e.ctx, la, blobstore.Checkpoint{Offset: "100", SequenceNumber: 100}))
		lb, err := b.Steal(e.ctx, "0")
		noErr(t, "Steal", err)
		want := blobstore.Checkpoint{PartitionID: "0", Offset: "150", SequenceNumber: 150}
		noErr(t, "new owner's checkpoint", b.UpdateCheckpoint(e.ctx, lb, want))
		for i := 0; i < 3; i++ {
			wantErr(t, "zombie checkpoint", a.UpdateCheckpoint(e.ctx, la, blobstore.Checkpoint{Offset: "120", SequenceNumber: 120}), blobstore.ErrLeaseLost)
		}
		wantErr(t, "zombie UpdateLease", a.UpdateLease(e.ctx, la, "zombie"), blobstore.ErrLeaseLost)
		got, found, err := e.store().GetCheckpoint(e.ctx, "0")
		noErr(t, "GetCheckpoint", err)
		if !found || got != want {
			t.Fatalf("checkpoint = %+v, want the new owner's %+v", got, want)
		}
	}},
	{"EpochsStrictlyIncrease", func(t *testing.T, e *env) {
		// Ownership changes hands in all three ways, three times over.
		h0, h1, h2 := e.created(), e.store(), e.store()
		e.partition(h0, "0")
		var last uint64
		next := func(how string, l blobstore.Lease) {
			t.Helper()
			if l.Epoch <= last {
				t.Fatalf("%s: epoch %d after %d", how, l.Epoch, last)
			}
			last = l.Epoch
		}
		next("first acquire", e.acquire(h0, "0"))
		for round := 0; round < 3; round++ {
			l, err := h1.Steal(e.ctx, "0")
			noErr(t, "Steal", err)
			next("steal", l)
			noErr(t, "Release", h1.Release(e.ctx, l))
			next("acquire after release", e.acquire(h2, "0"))
			_, err = h0.Acquire(e.ctx, "0")
			wantErr(t, "Acquire of a live lease", err, blobstore.ErrLeaseHeld)
			e.clock.Advance(leaseDuration)
			next("acquire after expiry", e.acquire(h0, "0"))
		}
	}},
	{"OwnerStopsAfterLapse", func(t *testing.T, e *env) {
		a := e.created()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		e.clock.Advance(leaseDuration)
		a.bkt.reset()
		wantErr(t, "checkpoint after the lease lapsed", a.UpdateCheckpoint(e.ctx, la, blobstore.Checkpoint{Offset: "1"}), blobstore.ErrLeaseLost)
		if g, p, _, _ := a.bkt.counts(); g+p != 0 {
			t.Fatalf("a lapsed owner made %d requests, want 0", g+p)
		}
		wantErr(t, "Renew after the lease lapsed", a.Renew(e.ctx, la), blobstore.ErrLeaseLost)
		again := e.acquire(a, "0")
		if again.Epoch != la.Epoch+1 || again.Token == la.Token {
			t.Fatalf("re-acquired lapsed lease = %+v, want a new token at epoch %d", again, la.Epoch+1)
		}
		wantErr(t, "checkpoint under the lapsed handle", a.UpdateCheckpoint(e.ctx, la, blobstore.Checkpoint{Offset: "1"}), blobstore.ErrLeaseLost)
		noErr(t, "checkpoint under the new handle", a.UpdateCheckpoint(e.ctx, again, blobstore.Checkpoint{Offset: "1"}))
	}},
	{"HoldsAndForget", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		a.bkt.reset()
		if !a.Holds(la) || b.Holds(la) {
			t.Fatalf("Holds: acquirer %v, other store %v; want true, false", a.Holds(la), b.Holds(la))
		}
		wantCounts(t, "Holds", a, 0, 0, 0, 0)
		e.clock.Advance(leaseDuration)
		if a.Holds(la) {
			t.Fatal("Holds is true for a lease not written within the lease duration")
		}
		lb := e.acquire(a, "0")
		a.Forget(lb)
		if a.Holds(lb) {
			t.Fatal("Holds is true after Forget")
		}
		wantErr(t, "checkpoint after Forget", a.UpdateCheckpoint(e.ctx, lb, blobstore.Checkpoint{Offset: "1"}), blobstore.ErrLeaseLost)
		if again := e.acquire(a, "0"); again.Epoch != lb.Epoch+1 {
			t.Fatalf("re-acquired after Forget at epoch %d, want %d", again.Epoch, lb.Epoch+1)
		}
	}},
	{"UpdateLeaseMetadata", func(t *testing.T, e *env) {
		a := e.created()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		noErr(t, "UpdateLease", a.UpdateLease(e.ctx, la, `{"reader":"r1"}`))
		got, _, err := e.store().GetLease(e.ctx, "0")
		noErr(t, "GetLease", err)
		if got.Metadata != `{"reader":"r1"}` {
			t.Fatalf("metadata = %q", got.Metadata)
		}
		big := strings.Repeat("x", blobstore.MaxMetadataLen+1)
		wantErr(t, "UpdateLease over the limit", a.UpdateLease(e.ctx, la, big), blobstore.ErrInvalidArgument)
		wantErr(t, "UpdateLease with invalid UTF-8", a.UpdateLease(e.ctx, la, "a\xffb"), blobstore.ErrInvalidArgument)
	}},
	{"DeleteLease", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		wantErr(t, "DeleteLease of another host's live lease", b.DeleteLease(e.ctx, "0"), blobstore.ErrLeaseHeld)
		noErr(t, "DeleteLease by the owner", a.DeleteLease(e.ctx, "0"))
		if _, found, err := b.GetLease(e.ctx, "0"); err != nil || found {
			t.Fatalf("GetLease after DeleteLease: found=%v err=%v", found, err)
		}
		if _, found, err := b.GetCheckpoint(e.ctx, "0"); err != nil || found {
			t.Fatalf("GetCheckpoint after DeleteLease: found=%v err=%v", found, err)
		}
		wantErr(t, "old owner's checkpoint after DeleteLease", a.UpdateCheckpoint(e.ctx, la, blobstore.Checkpoint{Offset: "1"}), blobstore.ErrLeaseLost)
		noErr(t, "DeleteLease of a missing partition", b.DeleteLease(e.ctx, "0"))
		leases, err := b.ListLeases(e.ctx)
		noErr(t, "ListLeases", err)
		if len(leases) != 0 {
			t.Fatalf("ListLeases after DeleteLease = %v", ids(leases))
		}
		e.partition(b, "0")
		lb := e.acquire(b, "0")
		if lb.Epoch == 0 {
			t.Fatalf("re-created lease acquired at epoch 0")
		}
	}},
	{"ListLeases", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		for _, id := range []string{"2", "0", "1", "10"} {
			e.partition(a, id)
		}
		e.acquire(a, "1")
		e.acquire(b, "10")
		leases, err := e.store().ListLeases(e.ctx)
		noErr(t, "ListLeases", err)
		if got := strings.Join(ids(leases), ","); got != "0,1,10,2" {
			t.Fatalf("ListLeases ids = %s, want 0,1,10,2", got)
		}
		owners := map[string]string{}
		for _, l := range leases {
			owners[l.PartitionID] = l.Owner
			if l.Checkpoint == nil || l.Checkpoint.Offset != blobstore.StartOfStream {
				t.Errorf("lease %s checkpoint = %+v, want start of stream", l.PartitionID, l.Checkpoint)
			}
		}
		if owners["1"] != a.Owner() || owners["10"] != b.Owner() || owners["0"] != "" || owners["2"] != "" {
			t.Fatalf("owners = %v", owners)
		}
	}},
}

// Cases of the hardening issue: what a Store promises about its own lease
// while requests hang, and what a renewal made without a request can claim.
var holdCases = []testCase{
	{"HoldsLapsesWhileWriteHangs", func(t *testing.T, e *env) {
		// A renewal hangs (a network path that stopped forwarding). Holds
		// must not wait for it, and must still report the lease lapsed a
		// lease duration after the last write that succeeded: a processor
		// asks Holds before every batch.
		a := e.created()
		e.partition(a, "0")
		l := e.acquire(a, "0")
		e.clock.Advance(renewInterval)
		a.bkt.setFault(func(op, _ string) fault {
			if op == "put" {
				return hang
			}
			return none
		})
		a.bkt.reset()
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan error, 1)
		go func() { done <- a.Renew(ctx, l) }()
		defer func() {
			cancel()
			if err := <-done; err == nil {
				t.Error("a renewal whose write hung until cancelled reported success")
			}
			a.bkt.setFault(nil)
		}()
		waitFor(t, "the renewal to hang", func() bool { _, p, _, _ := a.bkt.counts(); return p >= 1 })
		if !a.Holds(l) {
			t.Fatal("Holds is false while the lease is fresh and a renewal is in flight")
		}
		e.clock.Advance(leaseDuration - renewInterval - 1)
		if !a.Holds(l) || a.Remaining(l) != 1 {
			t.Fatalf("Holds %v, Remaining %v just before the lapse, want true and 1ns", a.Holds(l), a.Remaining(l))
		}
		e.clock.Advance(1)
		if a.Holds(l) || a.Remaining(l) != 0 {
			t.Fatalf("Holds %v, Remaining %v a lease duration after the last successful write, with a renewal still hanging, want false and 0", a.Holds(l), a.Remaining(l))
		}
	}},
	{"SkippedRenewKnowsWhatItSaw", func(t *testing.T, e *env) {
		// Rule 6 skips the request within RenewInterval of a write, so a
		// skipped renewal cannot see a steal by itself; but it must not
		// claim a lease this Store has already seen taken.
		a, b := e.created(), e.store()
		e.partition(a, "0")
		l := e.acquire(a, "0")
		_, err := b.Steal(e.ctx, "0")
		noErr(t, "Steal", err)
		a.bkt.reset()
		noErr(t, "a renewal skipped within RenewInterval (no request: it cannot know)", a.Renew(e.ctx, l))
		if g, p, _, _ := a.bkt.counts(); g+p != 0 {
			t.Fatalf("a skipped renewal made %d requests", g+p)
		}
		_, _, err = a.GetLease(e.ctx, "0") // a read through a: it now knows
		noErr(t, "GetLease", err)
		wantErr(t, "a skipped renewal after this Store read the thief's record", a.Renew(e.ctx, l), blobstore.ErrLeaseLost)
		if a.Holds(l) {
			t.Fatal("Holds is true after this Store read another owner's record")
		}
		// The same through a listing, which a balancer makes every cycle.
		e.partition(a, "1")
		l1 := e.acquire(a, "1")
		_, err = b.Steal(e.ctx, "1")
		noErr(t, "Steal", err)
		_, _, err = a.ListLeasesSkippingCorrupt(e.ctx)
		noErr(t, "ListLeasesSkippingCorrupt", err)
		wantErr(t, "a skipped renewal after a listing showed the thief", a.Renew(e.ctx, l1), blobstore.ErrLeaseLost)
	}},
}

// waitFor polls cond until it holds, failing the test after ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// wantLoss checks that err is a *LeaseLostError with the cause, naming the
// new owner and epoch for LossTaken.
func wantLoss(t *testing.T, what string, err error, cause blobstore.LossCause, owner string, epoch uint64) {
	t.Helper()
	wantErr(t, what, err, blobstore.ErrLeaseLost)
	var lost *blobstore.LeaseLostError
	if !errors.As(err, &lost) {
		t.Fatalf("%s: %v is not a *LeaseLostError", what, err)
	}
	if lost.Cause != cause || lost.Owner != owner || lost.Epoch != epoch {
		t.Fatalf("%s: cause %q owner %q epoch %d, want %q %q %d (%v)", what, lost.Cause, lost.Owner, lost.Epoch, cause, owner, epoch, err)
	}
}

package conformance

// Interleavings that broke an invariant in review, kept so they never return.

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

var regressionCases = []testCase{
	{"EpochNeverRepeatsAcrossDeleteLease", func(t *testing.T, e *env) {
		a, c, b := e.created(), e.store(), e.store()
		e.partition(a, "0")
		e.acquire(a, "0") // epoch 1
		lc, err := c.Steal(e.ctx, "0")
		noErr(t, "Steal", err) // epoch 2: a is now a zombie
		noErr(t, "DeleteLease by the thief", c.DeleteLease(e.ctx, "0"))
		e.partition(b, "0")
		if lb := e.acquire(b, "0"); lb.Epoch <= lc.Epoch {
			t.Fatalf("epoch went %d -> %d across DeleteLease and re-creation", lc.Epoch, lb.Epoch)
		}
	}},
	{"DeleteLeaseNeverRemovesARevivedLease", func(t *testing.T, e *env) {
		// On providers that ignore conditional deletes, a delayed physical
		// delete would remove a lease re-created in the meantime: DeleteLease
		// therefore only ever writes a tombstone, conditionally.
		x, y := e.created(), e.store()
		e.partition(x, "0")
		x.bkt.reset()
		noErr(t, "DeleteLease", x.DeleteLease(e.ctx, "0"))
		if _, _, d, _ := x.bkt.counts(); d != 0 {
			t.Fatalf("DeleteLease sent %d unconditional deletes", d)
		}
		e.partition(y, "0")
		ly := e.acquire(y, "0")
		want := blobstore.Checkpoint{PartitionID: "0", Offset: "500", SequenceNumber: 500}
		noErr(t, "UpdateCheckpoint", y.UpdateCheckpoint(e.ctx, ly, want))
		wantErr(t, "DeleteLease of the revived, held lease", x.DeleteLease(e.ctx, "0"), blobstore.ErrLeaseHeld)
		if cp, found, _ := x.GetCheckpoint(e.ctx, "0"); !found || cp != want {
			t.Fatalf("acknowledged checkpoint lost: %+v found=%v", cp, found)
		}
	}},
	{"LeaseFromAnotherStoreIsRefused", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		seen, _, err := b.GetLease(e.ctx, "0") // a read, not an acquisition
		noErr(t, "GetLease", err)
		b.bkt.reset()
		wantErr(t, "checkpoint under a lease read by another store", b.UpdateCheckpoint(e.ctx, seen, blobstore.Checkpoint{Offset: "b"}), blobstore.ErrLeaseLost)
		wantErr(t, "renew under a lease read by another store", b.Renew(e.ctx, seen), blobstore.ErrLeaseLost)
		wantCounts(t, "refused writes", b, 0, 0, 0, 0)
		noErr(t, "owner's checkpoint", a.UpdateCheckpoint(e.ctx, la, blobstore.Checkpoint{Offset: "a"}))
		e.clock.Advance(leaseDuration)
		wantErr(t, "lapsed owner", a.UpdateCheckpoint(e.ctx, la, blobstore.Checkpoint{Offset: "late"}), blobstore.ErrLeaseLost)
		wantErr(t, "lapsed handle through a fresh store", e.store().UpdateCheckpoint(e.ctx, la, blobstore.Checkpoint{Offset: "late"}), blobstore.ErrLeaseLost)
	}},
	{"RenewWithoutTokenIsRefused", func(t *testing.T, e *env) {
		s, thief := e.created(), e.store()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		lt, err := thief.Steal(e.ctx, "0")
		noErr(t, "Steal", err)
		wantErr(t, "zombie checkpoint", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1"}), blobstore.ErrLeaseLost)
		noErr(t, "thief's Release", thief.Release(e.ctx, lt))
		free, _, err := s.GetLease(e.ctx, "0")
		noErr(t, "GetLease", err)
		s.bkt.reset()
		wantErr(t, "Renew of a free lease's view", s.Renew(e.ctx, free), blobstore.ErrInvalidArgument)
		wantErr(t, "Release of a free lease's view", s.Release(e.ctx, free), blobstore.ErrInvalidArgument)
		wantCounts(t, "refused writes", s, 0, 0, 0, 0)
	}},
	{"AcquireAdoptsItsOwnUnknownOutcome", func(t *testing.T, e *env) {
		a := e.created()
		e.partition(a, "0")
		// The acquisition lands, its response is lost, and the read-back
		// fails too: the outcome is honestly unknown.
		putDone := false
		a.bkt.setFault(func(op, _ string) fault {
			switch {
			case op == "put" && !putDone:
				putDone = true
				return applyThenLose
			case op == "get" && putDone:
				return failBeforeApply
			}
			return none
		})
		_, err := a.Acquire(e.ctx, "0")
		a.bkt.setFault(nil)
		wantErr(t, "Acquire with an unknown outcome", err, blobstore.ErrUnavailable)
		l := e.acquire(a, "0") // not locked out until the lease expires
		if l.Epoch != 1 {
			t.Fatalf("adopted lease at epoch %d, want 1", l.Epoch)
		}
		noErr(t, "checkpoint under the adopted lease", a.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1"}))
	}},
	{"DeleteStoreDropsOwnership", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		noErr(t, "DeleteStore", s.DeleteStore(e.ctx))
		noErr(t, "CreateStoreIfNotExists", s.CreateStoreIfNotExists(e.ctx))
		e.partition(s, "0")
		wantErr(t, "checkpoint under a lease from before DeleteStore", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1"}), blobstore.ErrLeaseLost)
	}},
	{"AcquireOfDeletedPartitionIsNotFound", func(t *testing.T, e *env) {
		a, admin := e.created(), e.store()
		e.partition(a, "0")
		deleted := false
		var delErr error
		a.bkt.setFault(func(op, _ string) fault {
			if op == "put" && !deleted {
				deleted = true
				delErr = admin.DeleteLease(e.ctx, "0") // lands between a's read and write
			}
			return none
		})
		_, err := a.Acquire(e.ctx, "0")
		a.bkt.setFault(nil)
		noErr(t, "DeleteLease", delErr)
		wantErr(t, "Acquire of a partition deleted under it", err, blobstore.ErrPartitionNotFound)
	}},
	{"RejoinedHostIsFresh", func(t *testing.T, e *env) {
		b, obs := e.created(), e.store()
		noErr(t, "Heartbeat", b.Heartbeat(e.ctx))
		_, err := obs.ListHosts(e.ctx)
		noErr(t, "ListHosts", err)
		noErr(t, "Leave", b.Leave(e.ctx))
		e.clock.Advance(leaseDuration - 1)
		restarted := e.store(func(o *blobstore.Options) { o.Owner = b.Owner() }) // counter starts over
		noErr(t, "Heartbeat (rejoin)", restarted.Heartbeat(e.ctx))
		e.clock.Advance(1)
		hosts, err := obs.ListHosts(e.ctx)
		noErr(t, "ListHosts", err)
		for _, h := range hosts {
			if h.Name == b.Owner() && h.Expired {
				t.Fatalf("a host that just rejoined is reported expired (unchanged for %v)", h.UnchangedFor)
			}
		}
	}},
	{"RandomizedSequentialInvariants", randomizedInvariants},
}

// randomizedInvariants drives several stores through random operations with
// injected faults, and checks after every one: no zombie write accepted,
// every acknowledged checkpoint stored, epochs never decrease.
func randomizedInvariants(t *testing.T, e *env) {
	const nStores, nOps = 4, 600
	stores := make([]opened, nStores)
	stores[0] = e.created()
	for i := 1; i < nStores; i++ {
		stores[i] = e.store()
	}
	ids := []string{"0", "1"}
	for _, id := range ids {
		e.partition(stores[0], id)
	}
	h := fnv.New64a()
	h.Write([]byte(e.prefix))
	x := h.Sum64() | 1
	intn := func(n int) int { // xorshift: reproducible from the logged seed
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return int(x % uint64(n))
	}
	t.Logf("seed %d", x)
	leases := make([]map[string]blobstore.Lease, nStores)
	for i := range leases {
		leases[i] = map[string]blobstore.Lease{}
	}
	type rawRec struct {
		Token      string
		Epoch      uint64
		Deleted    bool
		Checkpoint *struct{ Offset string }
	}
	rawOf := func(id string) rawRec {
		var r rawRec
		if err := json.Unmarshal(e.raw(e.key(id)).Data, &r); err != nil {
			t.Fatalf("raw decode: %v", err)
		}
		return r
	}
	maxEpoch := map[string]uint64{}
	for op := 0; op < nOps; op++ {
		si := intn(nStores)
		s, id := stores[si], ids[intn(len(ids))]
		switch p := intn(10); {
		case p < 3:
			s.bkt.setFault(once("put", []fault{applyThenLose, applyThenEcho412, failBeforeApply}[intn(3)]))
		case p == 3:
			s.bkt.setFault(once("get", failBeforeApply))
		}
		pre := rawOf(id)
		var what string
		var err error
		switch intn(10) {
		case 0, 1:
			what = "acquire"
			var l blobstore.Lease
			if l, err = s.Acquire(e.ctx, id); err == nil {
				leases[si][id] = l
			}
		case 2:
			what = "steal"
			var l blobstore.Lease
			if l, err = s.Steal(e.ctx, id); err == nil {
				leases[si][id] = l
			}
		case 3, 4:
			l, ok := leases[si][id]
			if !ok {
				continue
			}
			what = "checkpoint"
			cp := blobstore.Checkpoint{PartitionID: id, Offset: fmt.Sprint(op), SequenceNumber: int64(op)}
			if err = s.UpdateCheckpoint(e.ctx, l, cp); err == nil {
				if pre.Token != l.Token {
					t.Fatalf("op %d: zombie checkpoint accepted (store %d)", op, si)
				}
				if post := rawOf(id); post.Token != l.Token || post.Checkpoint == nil || post.Checkpoint.Offset != cp.Offset {
					t.Fatalf("op %d: acknowledged checkpoint not stored: %+v", op, post)
				}
			}
		case 5:
			l, ok := leases[si][id]
			if !ok {
				continue
			}
			what = "renew"
			err = s.Renew(e.ctx, l)
		case 6:
			l, ok := leases[si][id]
			if !ok {
				continue
			}
			what = "release"
			if err = s.Release(e.ctx, l); err == nil && pre.Token != l.Token {
				t.Fatalf("op %d: zombie release accepted", op)
			}
		case 7:
			what = "delete checkpoint"
			if err = s.DeleteCheckpoint(e.ctx, id); err == nil {
				_, err = s.CreateCheckpointIfNotExists(e.ctx, id)
			}
		case 8:
			what = "delete lease"
			if err = s.DeleteLease(e.ctx, id); err == nil {
				_, err = s.CreateLeaseIfNotExists(e.ctx, id)
			}
		case 9:
			what = "advance"
			e.clock.Advance(time.Duration(intn(int(leaseDuration/time.Second))) * time.Second / 2)
		}
		s.bkt.setFault(nil)
		if err != nil && !errors.Is(err, blobstore.ErrLeaseHeld) && !errors.Is(err, blobstore.ErrLeaseLost) && !errors.Is(err, blobstore.ErrUnavailable) {
			t.Fatalf("op %d %s: unexpected error %v", op, what, err)
		}
		for _, id := range ids {
			r := rawOf(id)
			if r.Epoch < maxEpoch[id] {
				t.Fatalf("op %d %s: epoch of %s decreased %d -> %d", op, what, id, maxEpoch[id], r.Epoch)
			}
			maxEpoch[id] = r.Epoch
		}
	}
	t.Logf("final epochs %v", maxEpoch)
}

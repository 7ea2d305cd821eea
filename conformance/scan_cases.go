package conformance

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/blobstore"
)

// Scan: what a balancer reads each cycle. One listing shows partitions and
// hosts with their versions; a record is read only when its version is new
// to the Store, and one record that cannot be read never hides the others.
var scanCases = []testCase{
	{"PartitionsAndHostsInOneListing", func(t *testing.T, e *env) {
		a := e.created()
		long := e.store(func(o *blobstore.Options) { o.Owner = strings.Repeat("ü", 100) }) // a name too long for a key
		for i := 0; i < 5; i++ {
			e.partition(a, fmt.Sprint(i))
		}
		l := e.acquire(a, "3")
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		noErr(t, "Heartbeat", long.Heartbeat(e.ctx))
		obs := e.store()
		snap, err := obs.Scan(e.ctx, nil)
		noErr(t, "Scan", err)
		// A new store reads each record once, and the host whose name its
		// key cannot spell.
		wantCounts(t, "a first Scan", obs, 5+1, 0, 0, 1)
		if len(snap.Leases) != 5 || snap.Leases[3].Owner != a.Owner() || snap.Leases[3].Epoch != l.Epoch {
			t.Fatalf("Scan leases = %+v", snap.Leases)
		}
		if len(snap.Hosts) != 2 || snap.Hosts[0].Name != a.Owner() || snap.Hosts[1].Name != long.Owner() {
			t.Fatalf("Scan hosts = %+v, want %q and the long name", snap.Hosts, a.Owner())
		}
		for _, x := range snap.Leases {
			if x.ModifiedAt.IsZero() {
				t.Fatalf("lease %s listed without the store's modification time", x.PartitionID)
			}
		}
		for _, h := range snap.Hosts {
			if h.ModifiedAt.IsZero() {
				t.Fatalf("host %s listed without the store's modification time", h.Name)
			}
		}
		noErr(t, "Heartbeat", long.Heartbeat(e.ctx))
		obs.bkt.reset()
		snap, err = obs.Scan(e.ctx, nil)
		noErr(t, "Scan", err)
		wantCounts(t, "a second Scan", obs, 0, 0, 0, 1)
		if len(snap.Hosts) != 2 || snap.Hosts[1].Name != long.Owner() {
			t.Fatalf("second Scan hosts = %+v", snap.Hosts)
		}
	}},
	{"OneFailedReadHidesNothingElse", func(t *testing.T, e *env) {
		s := e.created()
		for i := 0; i < 6; i++ {
			e.partition(s, fmt.Sprint(i))
		}
		obs := e.store()
		obs.bkt.setFault(func(op, key string) fault {
			if op == "get" && key == e.key("2") {
				return failBeforeApply
			}
			return none
		})
		snap, err := obs.Scan(e.ctx, nil)
		noErr(t, "Scan with one record unreadable", err)
		if len(snap.Leases) != 5 || len(snap.Failed) != 1 || snap.Failed["2"] == nil {
			t.Fatalf("Scan = %d leases, failed %v; want 5 and partition 2", len(snap.Leases), snap.Failed)
		}
		wantErr(t, "the failed read", snap.Failed["2"], blobstore.ErrUnavailable)
		_, err = obs.ListLeases(e.ctx)
		wantErr(t, "ListLeases, which promises every record", err, blobstore.ErrUnavailable)
		obs.bkt.setFault(nil)
		snap, err = obs.Scan(e.ctx, nil)
		noErr(t, "Scan", err)
		if len(snap.Leases) != 6 || len(snap.Failed) != 0 {
			t.Fatalf("Scan after the fault = %d leases, failed %v", len(snap.Leases), snap.Failed)
		}
	}},
	{"CorruptRecordIsReadOnce", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "good")
		e.putRaw(e.key("bad"), []byte("{not json"))
		obs := e.store()
		for i := 0; i < 3; i++ {
			obs.bkt.reset()
			snap, err := obs.Scan(e.ctx, nil)
			noErr(t, "Scan", err)
			if len(snap.Leases) != 1 || len(snap.Corrupt) != 1 || snap.Corrupt[0].PartitionID != "bad" {
				t.Fatalf("Scan = %+v", snap)
			}
			if g, _, _, _ := obs.bkt.counts(); (i == 0) != (g > 0) {
				t.Fatalf("Scan %d made %d reads; want reads only the first time", i, g)
			}
		}
	}},
	{"ExpiryFromListedVersions", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		e.acquire(a, "0")
		_, err := b.Scan(e.ctx, nil)
		noErr(t, "Scan", err)
		e.clock.Advance(leaseDuration - 1)
		snap, err := b.Scan(e.ctx, nil)
		noErr(t, "Scan", err)
		if snap.Leases[0].Free() {
			t.Fatal("a lease unchanged for less than the lease duration is free")
		}
		e.clock.Advance(1)
		b.bkt.reset()
		snap, err = b.Scan(e.ctx, nil)
		noErr(t, "Scan", err)
		if !snap.Leases[0].Expired {
			t.Fatal("a lease unchanged for the lease duration is not expired")
		}
		// The listing showed it unchanged: taking it is one write.
		b.bkt.reset()
		l, err := b.Acquire(e.ctx, "0")
		noErr(t, "Acquire of the expired lease", err)
		wantCounts(t, "Acquire right after a Scan", b, 0, 1, 0, 0)
		if l.Owner != b.Owner() {
			t.Fatalf("Acquire = %+v", l)
		}
	}},
	{"StaleSightingNeverOverwrites", func(t *testing.T, e *env) {
		a, b, c := e.created(), e.store(), e.store()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		_, err := b.Scan(e.ctx, nil)
		noErr(t, "Scan", err)
		e.clock.Advance(leaseDuration)
		// c takes the lease after b's sighting; b's sighting is now stale.
		_, _, err = c.GetLease(e.ctx, "0")
		noErr(t, "GetLease", err)
		lc, err := c.Steal(e.ctx, "0")
		noErr(t, "Steal", err)
		snapErr := func() error { _, err := b.Acquire(e.ctx, "0"); return err }()
		wantErr(t, "Acquire on a stale sighting", snapErr, blobstore.ErrLeaseHeld)
		wantErr(t, "the first owner's checkpoint", a.UpdateCheckpoint(e.ctx, la, blobstore.Checkpoint{Offset: "1"}), blobstore.ErrLeaseLost)
		noErr(t, "the new owner's checkpoint", c.UpdateCheckpoint(e.ctx, lc, blobstore.Checkpoint{Offset: "2"}))
	}},
}

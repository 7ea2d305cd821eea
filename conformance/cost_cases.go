package conformance

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

// Storage requests are what users pay for: the happy path's costs are part of
// the contract.
var costCases = []testCase{
	{"CheckpointIsOneWrite", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		s.bkt.reset()
		for i := 1; i <= 10; i++ {
			noErr(t, "UpdateCheckpoint", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: fmt.Sprint(i), SequenceNumber: int64(i)}))
		}
		wantCounts(t, "10 checkpoints", s, 0, 10, 0, 0)
	}},
	{"RenewIsOneWrite", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		s.bkt.reset()
		for i := 0; i < 5; i++ {
			e.clock.Advance(renewInterval)
			noErr(t, "Renew", s.Renew(e.ctx, l))
		}
		wantCounts(t, "5 renewals", s, 0, 5, 0, 0)
	}},
	{"RenewSkippedAfterCheckpoint", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		noErr(t, "UpdateCheckpoint", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "1"}))
		e.clock.Advance(renewInterval - 1)
		s.bkt.reset()
		noErr(t, "Renew", s.Renew(e.ctx, l))
		wantCounts(t, "a renewal right after a checkpoint", s, 0, 0, 0, 0)
		e.clock.Advance(1)
		noErr(t, "Renew", s.Renew(e.ctx, l))
		wantCounts(t, "a renewal one interval after the checkpoint", s, 0, 1, 0, 0)
	}},
	{"ReleaseAndUpdateLeaseAreOneWrite", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		s.bkt.reset()
		noErr(t, "UpdateLease", s.UpdateLease(e.ctx, l, "m"))
		noErr(t, "Release", s.Release(e.ctx, l))
		wantCounts(t, "UpdateLease and Release", s, 0, 2, 0, 0)
	}},
	{"AcquireIsOneReadOneWrite", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		a.bkt.reset()
		e.acquire(a, "0")
		wantCounts(t, "Acquire of a free lease", a, 1, 1, 0, 0)
		b.bkt.reset()
		if _, err := b.Steal(e.ctx, "0"); err != nil {
			t.Fatal(err)
		}
		wantCounts(t, "Steal", b, 1, 1, 0, 0)
	}},
	{"ListReadsOnlyChangedRecords", func(t *testing.T, e *env) {
		s := e.created()
		for i := 0; i < 25; i++ {
			e.partition(s, fmt.Sprint(i))
		}
		list := func(what string, o opened, reads int64) {
			t.Helper()
			o.bkt.reset()
			leases, err := o.ListLeases(e.ctx)
			noErr(t, "ListLeases", err)
			if len(leases) != 25 {
				t.Fatalf("%s: ListLeases = %d leases, want 25", what, len(leases))
			}
			wantCounts(t, what, o, reads, 0, 0, 1)
		}
		list("ListLeases by the store that wrote every record", s, 0)
		b := e.store()
		list("ListLeases by a new store", b, 25)
		list("ListLeases again, nothing changed", b, 0)
		l := e.acquire(s, "7")
		noErr(t, "UpdateCheckpoint", s.UpdateCheckpoint(e.ctx, l, blobstore.Checkpoint{Offset: "9"}))
		list("ListLeases after one record changed", b, 1)
		leases, err := b.ListLeases(e.ctx)
		noErr(t, "ListLeases", err)
		if got := leases[slices.IndexFunc(leases, func(l blobstore.Lease) bool { return l.PartitionID == "7" })]; got.Owner != s.Owner() || got.Checkpoint == nil || got.Checkpoint.Offset != "9" {
			t.Fatalf("listed lease 7 = %+v, want owner %q at offset 9", got, s.Owner())
		}
	}},
	{"ScanInSteadyStateIsOneListing", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		for i := 0; i < 10; i++ {
			e.partition(a, fmt.Sprint(i))
		}
		noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
		noErr(t, "Heartbeat", b.Heartbeat(e.ctx))
		_, err := b.Scan(e.ctx, nil)
		noErr(t, "Scan", err)
		for round := 0; round < 3; round++ {
			e.clock.Advance(renewInterval)
			noErr(t, "Heartbeat", a.Heartbeat(e.ctx))
			b.bkt.reset()
			snap, err := b.Scan(e.ctx, nil)
			noErr(t, "Scan", err)
			wantCounts(t, "Scan with only heartbeats since the last", b, 0, 0, 0, 1)
			if len(snap.Leases) != 10 || len(snap.Hosts) != 2 {
				t.Fatalf("Scan = %d leases, %d hosts; want 10, 2", len(snap.Leases), len(snap.Hosts))
			}
			for _, h := range snap.Hosts {
				if h.Expired {
					t.Fatalf("host %q expired while it heartbeats", h.Name)
				}
			}
		}
	}},
}

func wantCounts(t *testing.T, what string, s opened, gets, puts, deletes, lists int64) {
	t.Helper()
	g, p, d, l := s.bkt.counts()
	if g != gets || p != puts || d != deletes || l != lists {
		t.Fatalf("%s: %d reads, %d writes, %d deletes, %d listings; want %d, %d, %d, %d", what, g, p, d, l, gets, puts, deletes, lists)
	}
}

var listCases = []testCase{
	{"1500Partitions", func(t *testing.T, e *env) {
		const n = 1500
		s := e.created()
		var wg sync.WaitGroup
		errs := make(chan error, n)
		sem := make(chan struct{}, 16)
		for i := 0; i < n; i++ {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				// Setup, not the case: an emulator that stalls under load
				// (Azurite on a busy machine) gets a few more tries.
				err := retryUnavailable(func() error {
					_, err := s.CreateLeaseIfNotExists(e.ctx, fmt.Sprintf("p%04d", i))
					return err
				})
				if err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		e.acquire(s, "p0000")
		e.acquire(s, "p1499")
		s.bkt.reset()
		var leases []blobstore.Lease
		obs := e.store()
		err := retryUnavailable(func() (err error) {
			leases, err = obs.ListLeases(e.ctx)
			return err
		})
		noErr(t, "ListLeases", err)
		if len(leases) != n {
			t.Fatalf("ListLeases = %d leases, want %d", len(leases), n)
		}
		for i, l := range leases {
			if want := fmt.Sprintf("p%04d", i); l.PartitionID != want {
				t.Fatalf("lease %d is %q, want %q (sorted)", i, l.PartitionID, want)
			}
		}
		if leases[0].Owner != s.Owner() || leases[n-1].Owner != s.Owner() || leases[1].Owner != "" {
			t.Fatalf("owners: first %q, second %q, last %q", leases[0].Owner, leases[1].Owner, leases[n-1].Owner)
		}
	}},
}

// retryUnavailable calls f until it succeeds or fails with anything but
// ErrUnavailable, at most five times.
func retryUnavailable(f func() error) error {
	var err error
	for range 5 {
		if err = f(); !errors.Is(err, blobstore.ErrUnavailable) {
			return err
		}
		time.Sleep(time.Second)
	}
	return err
}

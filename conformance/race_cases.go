package conformance

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

// Racing stores: errors from goroutines come back over channels or slices,
// never through t.Fatal inside a goroutine.
var raceCases = []testCase{
	{"AcquireOneWinner", func(t *testing.T, e *env) {
		const racers, rounds = 32, 50
		stores := make([]opened, racers)
		stores[0] = e.created()
		for i := 1; i < racers; i++ {
			stores[i] = e.store()
		}
		for r := 0; r < rounds; r++ {
			id := fmt.Sprintf("r%d", r)
			e.partition(stores[0], id)
			type result struct {
				who   int
				lease blobstore.Lease
				err   error
			}
			results := make(chan result, racers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, s := range stores {
				wg.Go(func() {
					<-start
					l, err := s.Acquire(e.ctx, id)
					results <- result{i, l, err}
				})
			}
			close(start)
			wg.Wait()
			close(results)
			winners := 0
			var won blobstore.Lease
			for res := range results {
				switch {
				case res.err == nil:
					winners++
					won = res.lease
				case errors.Is(res.err, blobstore.ErrLeaseHeld):
				default:
					t.Errorf("round %d, racer %d: unexpected error %v", r, res.who, res.err)
				}
			}
			if winners != 1 {
				t.Fatalf("round %d: %d winners, want exactly 1", r, winners)
			}
			got, _, err := stores[0].GetLease(e.ctx, id)
			noErr(t, "GetLease", err)
			if got.Token != won.Token || got.Owner != won.Owner || got.Epoch != 1 {
				t.Fatalf("round %d: stored lease %+v is not the winner's %+v", r, got, won)
			}
		}
	}},
	{"RenewAndCheckpointSameOwner", func(t *testing.T, e *env) {
		s := e.created()
		e.partition(s, "0")
		l := e.acquire(s, "0")
		const n = 60
		errs := make(chan error, 3*n)
		var wg sync.WaitGroup
		for w := 0; w < 2; w++ {
			wg.Go(func() {
				for i := 0; i < n; i++ {
					cp := blobstore.Checkpoint{Offset: fmt.Sprint(i), SequenceNumber: int64(i)}
					if err := s.UpdateCheckpoint(e.ctx, l, cp); err != nil {
						errs <- fmt.Errorf("checkpoint %d: %w", i, err)
					}
				}
			})
		}
		wg.Go(func() {
			for i := 0; i < n; i++ {
				e.clock.Advance(renewInterval)
				if err := s.Renew(e.ctx, l); err != nil {
					errs <- fmt.Errorf("renew %d: %w", i, err)
				}
			}
		})
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	}},
	{"ZombieRacesNewOwner", func(t *testing.T, e *env) {
		a, b := e.created(), e.store()
		e.partition(a, "0")
		la := e.acquire(a, "0")
		stolen := make(chan struct{}) // closed once the thief has stolen and checkpointed
		thiefErr := make(chan error, 1)
		thief := func() {
			defer close(stolen)
			// An owner that writes again before a steal's read and write
			// both land wins that steal (ErrLeaseHeld, "kept writing"): on
			// a loaded machine that can happen a few times in a row. Try
			// again; the owner's pauses leave room.
			lb, err := b.Steal(e.ctx, "0")
			for try := 1; try < 10 && errors.Is(err, blobstore.ErrLeaseHeld); try++ {
				lb, err = b.Steal(e.ctx, "0")
			}
			if err == nil {
				err = b.UpdateCheckpoint(e.ctx, lb, blobstore.Checkpoint{Offset: "thief", SequenceNumber: 1 << 40})
			}
			thiefErr <- err
		}
		launched := false
		for i := int64(1); ; i++ {
			stealDone := false
			select {
			case <-stolen:
				stealDone = true
				select {
				case err := <-thiefErr: // sent before stolen closes
					noErr(t, "thief", err)
					thiefErr <- nil
				default:
				}
			default:
			}
			began := time.Now()
			err := a.UpdateCheckpoint(e.ctx, la, blobstore.Checkpoint{Offset: fmt.Sprint(i), SequenceNumber: i})
			took := time.Since(began)
			if err == nil {
				if stealDone {
					t.Fatalf("zombie checkpoint %d accepted after the steal", i)
				}
				if i == 5 {
					launched = true
					go thief() // steal while the owner is busy writing
				}
				// An owner between two checkpoints. A steal needs a read and a
				// write (two round trips) between two of the owner's writes: an
				// owner writing faster than that cannot be stolen from (Steal
				// reports ErrLeaseHeld), on any store. So the owner pauses for
				// two of its own round trips, however slow the store is now.
				time.Sleep(5*time.Millisecond + 2*took)
				continue
			}
			if !launched || !errors.Is(err, blobstore.ErrLeaseLost) {
				t.Fatalf("owner's checkpoint %d: %v", i, err)
			}
			<-stolen
			break
		}
		noErr(t, "thief", <-thiefErr)
		got, _, err := e.store().GetCheckpoint(e.ctx, "0")
		noErr(t, "GetCheckpoint", err)
		if got.Offset != "thief" {
			t.Fatalf("final checkpoint %+v, want the new owner's", got)
		}
	}},
}

package processor

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

// processedAll waits until every event of the partition was processed.
func (g *group) processedAll(id string) {
	g.t.Helper()
	want := g.src.Len(id)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		g.rec.mu.Lock()
		n := len(g.rec.processed[id])
		g.rec.mu.Unlock()
		if n >= want {
			return
		}
		time.Sleep(time.Millisecond)
	}
	g.t.Fatalf("partition %s: not every one of %d events processed in time", id, want)
}

func (g *group) appendAndWait(id string, n int) {
	g.t.Helper()
	for i := 0; i < n; i++ {
		if _, err := g.src.Append(id, []byte("e")); err != nil {
			g.t.Fatal(err)
		}
		g.processedAll(id) // one event per batch: one mark per event
	}
}

func storedCheckpoint(t *testing.T, g *group, id string) blobstore.Checkpoint {
	t.Helper()
	s, err := blobstore.Open(g.ctx, "mem://"+g.ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cp, _, err := s.GetCheckpoint(g.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

func TestCheckpointPolicies(t *testing.T) {
	for _, c := range []struct {
		name   string
		policy CheckpointPolicy
		events int
		writes int64
	}{
		{"every event", CheckpointPolicy{}, 30, 30},
		{"every 10 events", CheckpointPolicy{EveryEvents: 10}, 30, 3},
		{"every 10 events, 25 marked", CheckpointPolicy{EveryEvents: 10}, 25, 2},
		{"every minute, no time passing", CheckpointPolicy{EveryInterval: time.Minute}, 30, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGroup(t, 1)
			g.opts.Checkpoint = c.policy
			m := g.add("a", 0)
			g.round()
			g.appendAndWait("0", c.events)
			if got := m.h.Stats().Checkpoints; got != c.writes {
				t.Fatalf("%d checkpoint writes for %d events, want %d", got, c.events, c.writes)
			}
			// A graceful shutdown flushes whatever is pending.
			g.shutdown(m)
			if cp := storedCheckpoint(t, g, "0"); cp.SequenceNumber != int64(c.events) {
				t.Fatalf("stored checkpoint after shutdown = %+v, want sequence %d", cp, c.events)
			}
		})
	}
}

func TestIntervalPolicyFlushesIdlePartitions(t *testing.T) {
	g := newGroup(t, 1)
	g.opts.Checkpoint = CheckpointPolicy{EveryInterval: 5 * time.Second}
	m := g.add("a", 0)
	g.round()
	g.appendAndWait("0", 7)
	if n := m.h.Stats().Checkpoints; n != 0 {
		t.Fatalf("%d writes before the interval passed", n)
	}
	g.advance(5 * time.Second)
	g.round() // the cycle flushes the idle partition's pending mark
	if cp := storedCheckpoint(t, g, "0"); cp.SequenceNumber != 7 {
		t.Fatalf("stored checkpoint = %+v, want sequence 7", cp)
	}
}

// A host whose lease is stolen stops processing: Process's context is
// cancelled, Close says LeaseLost, and no later checkpoint of its lands.
func TestLeaseLossStopsProcessing(t *testing.T) {
	g := newGroup(t, 1)
	m := g.add("a", 0)
	g.round()
	g.appendAndWait("0", 5)

	thief, err := blobstore.Open(g.ctx, "mem://"+g.ns, &blobstore.Options{Owner: "thief"})
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Close()
	tl, err := thief.Steal(g.ctx, "0")
	if err != nil {
		t.Fatal(err)
	}
	if err := thief.UpdateCheckpoint(g.ctx, tl, blobstore.Checkpoint{Offset: "1000", SequenceNumber: 1000}); err != nil {
		t.Fatal(err)
	}
	w := m.h.worker("0")
	if w == nil {
		t.Fatal("host has no worker for partition 0")
	}
	// The next event's checkpoint is refused, and processing stops.
	if _, err := g.src.Append("0", []byte("e")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		t.Fatal("processing did not stop after the lease was lost")
	}
	if !w.p.Lost() {
		t.Fatalf("partition stopped with cause %v, want a lost lease", context.Cause(w.p.ctx))
	}
	if err := w.p.Checkpoint(g.ctx, Event{Offset: "7", SequenceNumber: 7}); !errors.Is(err, blobstore.ErrLeaseLost) {
		t.Fatalf("checkpoint after the loss: %v, want ErrLeaseLost", err)
	}
	g.rec.mu.Lock()
	lost := g.rec.closes[LeaseLost]
	g.rec.mu.Unlock()
	if lost != 1 || m.h.Stats().Lost != 1 {
		t.Fatalf("Close(LeaseLost) calls %d, Stats.Lost %d; want 1 and 1", lost, m.h.Stats().Lost)
	}
	if cp := storedCheckpoint(t, g, "0"); cp.SequenceNumber != 1000 {
		t.Fatalf("stored checkpoint %+v, want the thief's", cp)
	}
	if owned := m.h.Owned(); len(owned) != 0 {
		t.Fatalf("host still lists %v", owned)
	}
}

// The cycle notices a stolen lease on an idle partition too: its listing
// shows the record changed, and the read shows another owner.
func TestRenewalNoticesLossOnIdlePartition(t *testing.T) {
	g := newGroup(t, 1)
	m := g.add("a", 0)
	g.round()
	thief, err := blobstore.Open(g.ctx, "mem://"+g.ns, &blobstore.Options{Owner: "thief"})
	if err != nil {
		t.Fatal(err)
	}
	defer thief.Close()
	if _, err := thief.Steal(g.ctx, "0"); err != nil {
		t.Fatal(err)
	}
	w := m.h.worker("0")
	g.advance(testRenew)
	m.h.cycle(g.ctx)
	select {
	case <-w.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the cycle did not stop the partition")
	}
	if !w.p.Lost() {
		t.Fatal("partition not marked lost")
	}
}

func TestNewValidatesOptions(t *testing.T) {
	s, err := blobstore.Open(context.Background(), "mem://", &blobstore.Options{LeaseDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := NewMemorySource(1)
	f := func(string) Processor { return nil }
	if _, err := New(s, src, f, &Options{BalanceInterval: 2 * time.Second}); !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Fatalf("BalanceInterval over the lease duration: %v", err)
	}
	if _, err := New(nil, src, f, nil); !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Fatalf("nil store: %v", err)
	}
}

// Run on the real clock: join, process, and hand over on cancellation.
func TestRunHandsOverOnCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := blobstore.Open(ctx, fmt.Sprintf("mem://TestRunHandsOverOnCancel-%d", time.Now().UnixNano()), &blobstore.Options{
		Owner: "runner", LeaseDuration: 3 * time.Second, RenewInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := NewMemorySource(4)
	rec := newRecorder()
	h, err := New(s, src, rec.factory("runner"), nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(runCtx) }()
	for _, id := range []string{"0", "1", "2", "3"} {
		if _, err := src.Append(id, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Stop once every partition's event was processed (owning all four is
	// not enough: on a busy machine a worker may not have read yet).
	processedAll := func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		for _, id := range []string{"0", "1", "2", "3"} {
			if rec.processed[id][1] == 0 {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(30 * time.Second)
	for !processedAll() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !processedAll() {
		t.Fatalf("events not processed within 30 s: %v", rec.processed)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	leases, err := s.ListLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases {
		if l.Owner != "" {
			t.Fatalf("lease %s still owned by %q after a graceful stop", l.PartitionID, l.Owner)
		}
		if l.Checkpoint == nil || l.Checkpoint.SequenceNumber != 1 {
			t.Fatalf("lease %s checkpoint %+v, want sequence 1", l.PartitionID, l.Checkpoint)
		}
	}
	if hosts, _ := s.ListHosts(ctx); len(hosts) != 0 {
		t.Fatalf("presence left behind: %+v", hosts)
	}
}

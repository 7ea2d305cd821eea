package processor

// Interleavings an adversarial review found to break the host, kept so they
// never return.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/membucket"
	"github.com/tidemark/tidemark/internal/clocktest"
)

// addCustom is g.add with a chosen source, factory, store options and host options.
func (g *group) addCustom(name string, src Source, factory func(string) Processor, so *blobstore.Options, ho *Options) *member {
	g.t.Helper()
	clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(g.elapsed))
	o := blobstore.Options{Owner: name, LeaseDuration: testLease, RenewInterval: testRenew}
	if so != nil {
		o.LeaseDuration, o.RenewInterval = so.LeaseDuration, so.RenewInterval
	}
	o.Clock = clock
	s, err := blobstore.Open(g.ctx, "mem://"+g.ns, &o)
	if err != nil {
		g.t.Fatal(err)
	}
	hopts := g.opts
	if ho != nil {
		hopts = *ho
	}
	hopts.Clock = clock
	if src == nil {
		src = g.src
	}
	if factory == nil {
		factory = g.rec.factory(name)
	}
	h, err := New(s, src, factory, &hopts)
	if err != nil {
		g.t.Fatal(err)
	}
	if err := h.start(g.ctx); err != nil {
		g.t.Fatal(err)
	}
	m := &member{h: h, clock: clock, store: s, alive: true}
	g.hosts = append(g.hosts, m)
	return m
}

// limitedSource lists only some of a MemorySource's partitions: a host that
// started before the stream grew (or whose Source listed partially).
type limitedSource struct {
	*MemorySource
	ids []string
}

func (s limitedSource) Partitions(context.Context) ([]string, error) { return s.ids, nil }

// R1: hosts that disagree on the partition list leave a partition orphaned
// forever (and a host never picks up partitions added after it started).
func TestRegressionStalePartitionListOrphans(t *testing.T) {
	g := newGroup(t, 6)
	g.addCustom("a", limitedSource{g.src, []string{"0", "1", "2", "3"}}, nil, nil, nil)
	g.round() // a alone: owns 0..3
	g.addCustom("b", nil, nil, nil, nil)
	for i := 0; i < 20; i++ {
		g.advance(testRenew)
		g.round()
	}
	per, orphans := g.counts()
	if orphans > 0 {
		t.Fatalf("after 20 rounds: %v, %d partition(s) orphaned forever", per, orphans)
	}
}

// closeMarker buffers progress and marks it in Close, as a batching
// processor does.
type closeMarker struct {
	mu   sync.Mutex
	last Event
}

func (c *closeMarker) Open(context.Context, *Partition) error { return nil }
func (c *closeMarker) Process(_ context.Context, _ *Partition, evs []Event) error {
	c.mu.Lock()
	c.last = evs[len(evs)-1]
	c.mu.Unlock()
	return nil
}
func (c *closeMarker) Close(ctx context.Context, p *Partition, r CloseReason) error {
	if r == LeaseLost {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return p.Checkpoint(ctx, c.last) // doc: only after LeaseLost can no checkpoint be written
}

// R3: a mark made in Close(Shutdown) is never written: the host flushes before
// Close and releases after it.
func TestRegressionMarkInCloseDroppedOnShutdown(t *testing.T) {
	g := newGroup(t, 1)
	cm := &closeMarker{}
	m := g.addCustom("a", nil, func(string) Processor { return cm }, nil,
		&Options{Checkpoint: CheckpointPolicy{EveryEvents: 100}})
	g.round()
	for i := 0; i < 5; i++ {
		if _, err := g.src.Append("0", []byte("e")); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		cm.mu.Lock()
		n := cm.last.SequenceNumber
		cm.mu.Unlock()
		if n == 5 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	g.shutdown(m)
	if cp := storedCheckpoint(t, g, "0"); cp.SequenceNumber != 5 {
		t.Fatalf("graceful shutdown released with checkpoint %+v; the mark made in Close (seq 5) was dropped", cp)
	}
}

// R4: one unreadable record (e.g. a newer schema written during a rolling
// upgrade, even of a partition this source does not list) stops balancing on
// every host: a killed host's partitions are never taken over.
func TestRegressionCorruptRecordBlocksFailover(t *testing.T) {
	g := newGroup(t, 6)
	g.add("a", 0)
	g.add("b", 0)
	c := g.add("c", 0)
	g.settle(16)
	if _, err := membucket.Open(g.ns).Put(g.ctx, "99.json", []byte(`{"schema":99}`), ""); err != nil {
		t.Fatal(err)
	}
	g.kill(c)
	for i := 0; i < 10; i++ { // 100s: over twice the failover bound
		g.advance(testRenew)
		g.round()
	}
	if per, orphans := g.counts(); orphans > 0 {
		t.Fatalf("100s after the kill: %v, %d orphaned", per, orphans)
	}
}

// R7: a host that counts a presence-only host (not yet expired in its view)
// steals from a loaded host while free partitions exist.
func TestRegressionStealsWhileFreePartitionsExist(t *testing.T) {
	ps := make([]string, 10)
	for i := range ps {
		ps[i] = fmt.Sprintf("p%02d", i)
	}
	own := map[string]string{}
	for i := 0; i < 5; i++ {
		own[ps[i]] = "a"
	}
	for i := 5; i < 8; i++ {
		own[ps[i]] = "b"
	}
	// p08, p09 free (the dead host k's, expired); k's presence not yet expired.
	pl := planCycle(view{self: "b", liveHosts: []string{"a", "b", "k"}, partitions: ps, owner: own})
	if pl.steal != "" {
		t.Fatalf("plan steals %s from a while p08, p09 are free (claim %v limit %d)", pl.steal, pl.claim, pl.limit)
	}
}

// flakyBucket is a membucket whose every call fails while down is set: the
// host's network to the store is cut.
type flakyBucket struct {
	*membucket.Bucket
	down *atomic.Bool
}

var errDown = errors.New("network down")

func (b flakyBucket) Get(ctx context.Context, key string) (driver.Object, error) {
	if b.down.Load() {
		return driver.Object{}, errDown
	}
	return b.Bucket.Get(ctx, key)
}
func (b flakyBucket) Put(ctx context.Context, key string, data []byte, v string) (string, error) {
	if b.down.Load() {
		return "", errDown
	}
	return b.Bucket.Put(ctx, key, data, v)
}
func (b flakyBucket) List(ctx context.Context, prefix, tok string) ([]driver.Entry, string, error) {
	if b.down.Load() {
		return nil, "", errDown
	}
	return b.Bucket.List(ctx, prefix, tok)
}

// R8: a host cut off from the store keeps calling Process after its lease
// lapsed and another host took the partition, until its next cycle.
func TestRegressionLapsedOwnerKeepsProcessing(t *testing.T) {
	g := newGroup(t, 1)
	var down atomic.Bool
	clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := blobstore.New(flakyBucket{membucket.Open(g.ns), &down}, &blobstore.Options{Owner: "a",
		LeaseDuration: testLease, RenewInterval: testRenew, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ha, err := New(s, g.src, g.rec.factory("a"), &Options{Clock: clock, Checkpoint: CheckpointPolicy{EveryEvents: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ha.start(g.ctx); err != nil {
		t.Fatal(err)
	}
	a := &member{h: ha, clock: clock, store: s, alive: true}
	g.hosts = append(g.hosts, a)
	b := g.add("b", 0)

	a.h.cycle(g.ctx) // t=0: a takes partition 0
	b.h.cycle(g.ctx)
	down.Store(true)
	for _, step := range []struct {
		m  *member
		dt time.Duration
	}{{a, 5 * time.Second}, {b, 5 * time.Second}, {a, 5 * time.Second}, {b, 5 * time.Second}, {a, 5 * time.Second}, {b, 5 * time.Second}} {
		g.advance(step.dt)
		step.m.h.cycle(g.ctx) // a at 5,15,25 (renew fails), b at 10,20,30
	}
	if got := b.h.Owned(); len(got) != 1 {
		t.Fatalf("b owns %v at t=30", got)
	}
	down.Store(false) // network back (or not: a's processing does not need the store)
	g.appendAndWait("0", 3)
	time.Sleep(50 * time.Millisecond)
	g.rec.mu.Lock()
	twice := 0
	for _, n := range g.rec.processed["0"] {
		if n > 1 {
			twice++
		}
	}
	g.rec.mu.Unlock()
	if twice > 0 {
		t.Fatalf("%d events processed by both a (lease lapsed at t=30, epoch 1) and b (epoch 2) at t=30; a.Owned()=%v", twice, a.h.Owned())
	}
}

// R10: Run cycles at once after start, so a newcomer's first cycle comes
// before any peer has seen its presence and shed: with no free partition it
// steals, though the loaded hosts were about to hand over gracefully.
func TestRegressionNewcomerStealsBeforePeersCanShed(t *testing.T) {
	g := newGroup(t, 10)
	g.add("a", 0)
	g.add("b", 0)
	g.settle(16)
	c := g.add("c", 0)
	c.h.cycle(g.ctx) // what Run does right after start
	for i := 0; i < 6; i++ {
		g.advance(testRenew)
		g.round()
	}
	per, _ := g.counts()
	var shed int64
	for _, m := range g.hosts {
		shed += m.h.Stats().Shed
	}
	if s := g.steals(); s > 0 {
		t.Fatalf("a join into a balanced group: %d steals, %d graceful sheds (%v)", s, shed, per)
	}
}

// R12: an operator's "tidemark rm --force" (Steal + DeleteLease) of a
// partition the source still lists: the help says a host that acquires it
// again starts afresh, but records are created only in start, so no running
// host ever acquires it again.
func TestRegressionDeletedRecordNeverRecreated(t *testing.T) {
	g := newGroup(t, 4)
	g.add("a", 0)
	g.add("b", 0)
	g.settle(8)
	op, err := blobstore.Open(g.ctx, "mem://"+g.ns, &blobstore.Options{Owner: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if _, err := op.Steal(g.ctx, "3"); err != nil {
		t.Fatal(err)
	}
	if err := op.DeleteLease(g.ctx, "3"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		g.advance(testRenew)
		g.round()
	}
	if per, orphans := g.counts(); orphans > 0 {
		t.Fatalf("100s after rm of partition 3: %v, %d orphaned", per, orphans)
	}
}

// hangBucket blocks Puts of one key until the caller's context ends: a
// half-open connection to the store with no client timeout.
type hangBucket struct {
	*membucket.Bucket
	key  string
	hang *atomic.Bool
}

func (b hangBucket) Put(ctx context.Context, key string, data []byte, v string) (string, error) {
	if b.hang.Load() && key == b.key {
		<-ctx.Done()
		return "", ctx.Err()
	}
	return b.Bucket.Put(ctx, key, data, v)
}

// R13: a checkpoint write that hangs (it runs under the partition's context,
// which has no deadline) holds Partition.mu, and the cycle blocks on that
// mutex in flushIfDue: no heartbeat, no renewal or loss detection for any
// other partition of the host.
func TestRegressionHungCheckpointWriteStallsCycle(t *testing.T) {
	g := newGroup(t, 2)
	var hang atomic.Bool
	clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	// Store calls are bounded by the renew interval: 1s here.
	s, err := blobstore.New(hangBucket{membucket.Open(g.ns), "0.json", &hang}, &blobstore.Options{Owner: "a",
		LeaseDuration: 3 * time.Second, RenewInterval: time.Second, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(s, g.src, newRecorder().factory("a"), &Options{Clock: clock}) // own recorder: the stuck cycle re-opens after stop(false)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.start(g.ctx); err != nil {
		t.Fatal(err)
	}
	h.cycle(g.ctx) // owns 0 and 1
	hang.Store(true)
	if _, err := g.src.Append("0", []byte("e")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the worker is now inside UpdateCheckpoint, holding p.mu
	clock.Advance(time.Second)
	done := make(chan struct{})
	go func() { h.cycle(g.ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		// unblock everything so the test can clean up
		hang.Store(false)
		h.stop(false)
		<-done
		s.Close()
		t.Fatal("cycle blocked behind a hung checkpoint write of another goroutine: no heartbeat, no renewals")
	}
	h.stop(false)
	s.Close()
}

// keyFlaky fails Puts of one key while down is set.
type keyFlaky struct {
	*membucket.Bucket
	key  string
	down *atomic.Bool
}

func (b keyFlaky) Put(ctx context.Context, key string, data []byte, v string) (string, error) {
	if b.down.Load() && key == b.key {
		return "", errDown
	}
	return b.Bucket.Put(ctx, key, data, v)
}

// R14: a handover whose final flush fails transiently closes the processor
// with LeaseLost but neither releases nor loses the lease; the host's next
// claim gets the very same lease back (same token, same epoch), so a second
// Processor opens at the same epoch and the closed Partition handle's
// checkpoints are accepted again.
func TestRegressionFlushFailureThenSameEpochReopen(t *testing.T) {
	g := newGroup(t, 1)
	var down atomic.Bool
	clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := blobstore.New(keyFlaky{membucket.Open(g.ns), "0.json", &down}, &blobstore.Options{Owner: "a",
		LeaseDuration: testLease, RenewInterval: testRenew, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(s, g.src, g.rec.factory("a"), &Options{Clock: clock, Checkpoint: CheckpointPolicy{EveryEvents: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.start(g.ctx); err != nil {
		t.Fatal(err)
	}
	g.hosts = append(g.hosts, &member{h: h, clock: clock, store: s, alive: true})
	h.cycle(g.ctx)
	g.appendAndWait("0", 2) // marked 2, not written (EveryEvents 100)
	w := h.worker("0")
	down.Store(true)
	w.p.cancel(errRebalance) // as a shed does
	<-w.done                 // Flush failed: Close(LeaseLost), no release
	down.Store(false)
	clock.Advance(testRenew)
	h.cycle(g.ctx) // re-claims its own partition
	w2 := h.worker("0")
	if w2 != nil && w2.p.Epoch == w.p.Epoch {
		err := w.p.Checkpoint(g.ctx, Event{Offset: "2", SequenceNumber: 2})
		t.Fatalf("after Close(LeaseLost) at epoch %d, a new Processor opened at epoch %d; the old handle's checkpoint returned %v",
			w.p.Epoch, w2.p.Epoch, err)
	}
}

// Settings under which Renew's skip rule lets a healthy host's lease lapse
// (the gap between writes reaches RenewInterval + BalanceInterval) are refused.
func TestRegressionNewRejectsLapsingIntervals(t *testing.T) {
	for _, c := range []struct {
		lease, renew, balance time.Duration
	}{
		{30 * time.Second, 10 * time.Second, 25 * time.Second},
		{30 * time.Second, 20 * time.Second, 0}, // the default BalanceInterval is the renew interval
		// A renewal may start 25 s after the last write and take 10 s: it
		// would land after the lease lapsed (hardening item 3).
		{30 * time.Second, 10 * time.Second, 15 * time.Second},
	} {
		s, err := blobstore.Open(context.Background(), "mem://", &blobstore.Options{LeaseDuration: c.lease, RenewInterval: c.renew})
		if err != nil {
			t.Fatal(err)
		}
		_, err = New(s, NewMemorySource(1), func(string) Processor { return nil }, &Options{BalanceInterval: c.balance})
		if !errors.Is(err, blobstore.ErrInvalidArgument) {
			t.Errorf("lease %v renew %v balance %v: New = %v, want ErrInvalidArgument", c.lease, c.renew, c.balance, err)
		}
		s.Close()
	}
}

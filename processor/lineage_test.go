package processor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/internal/clocktest"
)

// lineageProc is a recProc that, on Open, checks in the store that every
// parent of its partition was recorded finished, and remembers the order in
// which partitions were opened.
type lineageProc struct {
	recProc
	g       *group
	order   *[]string
	orderMu *sync.Mutex
	// skipLast leaves the last event of each batch unmarked.
	skipLast bool
}

func (p *lineageProc) Open(ctx context.Context, pt *Partition) error {
	infos, _ := p.g.src.Lineage(ctx)
	listed := map[string]bool{}
	for _, in := range infos {
		listed[in.ID] = true
	}
	for _, in := range infos {
		if in.ID != pt.ID {
			continue
		}
		for _, par := range in.Parents {
			if !listed[par] {
				continue // aged out of the stream: nothing to wait for
			}
			if cp := storedCheckpoint(p.g.t, p.g, par); cp.Offset != EndOfPartition {
				p.r.mu.Lock()
				p.r.problems = append(p.r.problems, fmt.Sprintf("partition %s opened while its parent %s is at %q", pt.ID, par, cp.Offset))
				p.r.mu.Unlock()
			}
		}
	}
	p.orderMu.Lock()
	*p.order = append(*p.order, pt.ID)
	p.orderMu.Unlock()
	return p.recProc.Open(ctx, pt)
}

func (p *lineageProc) Process(ctx context.Context, pt *Partition, evs []Event) error {
	if p.skipLast {
		if len(evs) > 1 {
			_ = pt.Checkpoint(ctx, evs[len(evs)-2])
		}
		p.r.mu.Lock()
		defer p.r.mu.Unlock()
		m := p.r.processed[pt.ID]
		if m == nil {
			m = map[int64]int{}
			p.r.processed[pt.ID] = m
		}
		for _, ev := range evs {
			m[ev.SequenceNumber]++
		}
		return nil
	}
	return p.recProc.Process(ctx, pt, evs)
}

func lineageGroup(t *testing.T, skipLast func(id string) bool) (*group, func() []string) {
	t.Helper()
	g := newGroup(t, 4)
	var (
		order []string
		mu    sync.Mutex
	)
	g.opts.MaxBatch = 3
	for _, name := range []string{"a", "b"} {
		clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(g.elapsed))
		s, err := blobstore.Open(g.ctx, "mem://"+g.ns, &blobstore.Options{Owner: name,
			LeaseDuration: testLease, RenewInterval: testRenew, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		o := g.opts
		o.Clock = clock
		h, err := New(s, g.src, func(id string) Processor {
			return &lineageProc{recProc: recProc{r: g.rec, host: name}, g: g, order: &order, orderMu: &mu,
				skipLast: skipLast != nil && skipLast(id)}
		}, &o)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.start(g.ctx); err != nil {
			t.Fatal(err)
		}
		g.hosts = append(g.hosts, &member{h: h, clock: clock, store: s, alive: true})
	}
	// opened returns the partitions opened so far, in order.
	opened := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(order)
	}
	return g, opened
}

// owners returns which live host processes each partition.
func (g *group) owners() map[string]string {
	out := map[string]string{}
	for _, m := range g.hosts {
		if m.alive {
			for _, id := range m.h.Owned() {
				out[id] = m.h.Name()
			}
		}
	}
	return out
}

// roundsUntil runs rounds until cond holds, at most n.
func (g *group) roundsUntil(n int, cond func() bool) bool {
	for range n {
		g.advance(testRenew)
		g.round()
		// Let workers that reached the end of their partition finish.
		deadline := time.Now().Add(2 * time.Second)
		for !cond() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if cond() {
			return true
		}
	}
	return false
}

func (g *group) processedCount(id string) int {
	g.rec.mu.Lock()
	defer g.rec.mu.Unlock()
	return len(g.rec.processed[id])
}

func TestSplitAndMergeFinishParentsFirst(t *testing.T) {
	g, opened := lineageGroup(t, nil)
	g.settle(5)
	for _, id := range []string{"0", "1", "2", "3"} {
		for range 4 {
			if _, err := g.src.Append(id, []byte(id)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Split 0 into 4 and 5; merge 1 and 2 into 6. The children get events
	// at once, before their parents were read to their end.
	for _, step := range []func() error{
		func() error { return g.src.End("0") },
		func() error { return g.src.AddPartition("4", "0") },
		func() error { return g.src.AddPartition("5", "0") },
		func() error { return g.src.End("1") },
		func() error { return g.src.End("2") },
		func() error { return g.src.AddPartition("6", "1", "2") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"4", "5", "6"} {
		for range 5 {
			if _, err := g.src.Append(id, []byte(id)); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := []string{"3", "4", "5", "6"}
	ok := g.roundsUntil(12, func() bool {
		own := g.owners()
		var ids []string
		for id := range own {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		if !slices.Equal(ids, want) {
			return false
		}
		for _, id := range []string{"0", "1", "2", "3", "4", "5", "6"} {
			if g.processedCount(id) < g.src.Len(id) {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("owned %v, want %v; stats a=%+v b=%+v", g.owners(), want, g.hosts[0].h.Stats(), g.hosts[1].h.Stats())
	}
	for _, id := range []string{"0", "1", "2"} {
		cp := storedCheckpoint(t, g, id)
		if cp.Offset != EndOfPartition || cp.SequenceNumber != 4 {
			t.Errorf("partition %s: stored %+v, want finished at sequence 4", id, cp)
		}
	}
	var finished int64
	per := map[string]int{}
	for _, m := range g.hosts {
		finished += m.h.Stats().Finished
		per[m.h.Name()] = len(m.h.Owned())
	}
	if finished != 3 {
		t.Errorf("%d partitions finished, want 3", finished)
	}
	if per["a"] != 2 || per["b"] != 2 {
		t.Errorf("owned per host %v: the four open partitions are not shared 2/2", per)
	}
	// Every event processed, none twice (one host each, handovers flushed).
	g.rec.mu.Lock()
	for id, seqs := range g.rec.processed {
		for seq, n := range seqs {
			if n != 1 {
				t.Errorf("partition %s event %d processed %d times", id, seq, n)
			}
		}
	}
	g.rec.mu.Unlock()
	// A settled group makes no more moves, and never opens a finished
	// partition again.
	before := len(opened())
	for range 3 {
		g.advance(testRenew)
		g.round()
	}
	if now := opened(); len(now) != before {
		t.Errorf("partitions opened after the group settled: %v", now[before:])
	}
	// The memory source reports its lag: caught up.
	for _, m := range g.hosts {
		for id, d := range m.h.Lag() {
			if d != 0 {
				t.Errorf("host %s partition %s: lag %v after processing everything", m.h.Name(), id, d)
			}
		}
		if len(m.h.Lag()) != 2 {
			t.Errorf("host %s reports lag for %v, want its 2 partitions", m.h.Name(), m.h.Lag())
		}
	}
}

// endWithChild appends 3 events to partition 0, ends it, and adds partition
// 4 continuing it.
func endWithChild(t *testing.T, g *group) {
	t.Helper()
	for range 3 {
		if _, err := g.src.Append("0", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.src.End("0"); err != nil {
		t.Fatal(err)
	}
	if err := g.src.AddPartition("4", "0"); err != nil {
		t.Fatal(err)
	}
}

// A processor that does not checkpoint its partition's last event leaves it
// unfinished: its child never starts, and the parent is read again (at
// least once) by whoever takes it next.
func TestEndWithoutLastCheckpointKeepsChildrenWaiting(t *testing.T) {
	g, opened := lineageGroup(t, func(id string) bool { return id == "0" })
	g.settle(5)
	endWithChild(t, g)
	if _, err := g.src.Append("4", []byte("y")); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		g.advance(testRenew)
		g.round()
		time.Sleep(20 * time.Millisecond)
	}
	if slices.Contains(opened(), "4") {
		t.Fatalf("child 4 opened although its parent's last event was never checkpointed (opened: %v)", opened())
	}
	if cp := storedCheckpoint(t, g, "0"); cp.Offset == EndOfPartition {
		t.Fatalf("parent recorded finished at %+v", cp)
	}
	if n := slices.Index(opened(), "0"); n < 0 || len(opened()) < 2 {
		t.Fatalf("parent 0 was not opened again after being released unfinished (opened: %v)", opened())
	}
}

// A parent that ages out of the stream before it was read to its end no
// longer holds its children back, and its owner hands it back.
func TestAgedOutParentReleasesItsChildren(t *testing.T) {
	g, opened := lineageGroup(t, func(id string) bool { return id == "0" })
	g.settle(5)
	endWithChild(t, g)
	for range 3 {
		g.advance(testRenew)
		g.round()
	}
	if slices.Contains(opened(), "4") {
		t.Fatalf("child opened while its unfinished parent is still in the stream: %v", opened())
	}
	if err := g.src.Remove("0"); err != nil {
		t.Fatal(err)
	}
	ok := g.roundsUntil(4, func() bool {
		own := g.owners()
		_, parent := own["0"]
		_, child := own["4"]
		return child && !parent
	})
	if !ok {
		t.Fatalf("after the parent aged out: owners %v", g.owners())
	}
	if cp := storedCheckpoint(t, g, "0"); cp.Offset == EndOfPartition {
		t.Errorf("the aged-out parent was recorded finished: %+v", cp)
	}
}

// While a partition waits for its parent, the hosts read the parent's
// record, not every record that changed: a group checkpointing every
// partition each cycle makes no more record reads than one per host that
// does not own the parent.
func TestWaitingChildReadsOnlyItsParent(t *testing.T) {
	ctx := context.Background()
	ns := fmt.Sprintf("lineage-cost-%d", time.Now().UnixNano())
	clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var n requestCounts
	src := NewMemorySource(16)
	const hosts = 2
	group := manualGroup(t, ns, clock, src, hosts, func(b driver.Bucket) driver.Bucket { return countingBucket{b, &n, 1000} }, Options{})
	seq := int64(0)
	round := func() {
		for _, h := range group {
			seq++
			markAll(ctx, t, h, seq)
			h.cycle(ctx)
			waitHandovers(h)
		}
		clock.Advance(costInterval)
	}
	for range 12 {
		round()
	}
	// Partition 16 continues 0, which stays open: 16 waits.
	if err := src.AddPartition("16", "0"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		round()
	}
	n.reset()
	const rounds = 20
	for range rounds {
		round()
	}
	for _, h := range group {
		if slices.Contains(h.Owned(), "16") {
			t.Fatalf("host %s processes 16 while its parent is open", h.Name())
		}
	}
	perCycle := float64(n.recordGets.Load()) / rounds / hosts
	t.Logf("record reads per host per cycle while a partition waits: %.2f", perCycle)
	if perCycle > float64(hosts-1)/hosts+0.01 {
		t.Errorf("%.2f record reads per host per cycle, want at most %.2f (the parent, by the host that does not own it)",
			perCycle, float64(hosts-1)/hosts)
	}
}

// presencePuts counts heartbeat writes (puts of presence records).
type presencePuts struct {
	driver.Bucket
	n *atomic.Int64
}

func (b presencePuts) Put(ctx context.Context, key string, data []byte, v string) (string, error) {
	if strings.Contains(key, ".hosts/") {
		b.n.Add(1)
	}
	return b.Bucket.Put(ctx, key, data, v)
}

// A host whose every partition has a checkpoint due once a renew interval
// (CheckpointPolicy.EveryInterval equal to it) pays for the checkpoints
// only: the cycle's flush renews the leases, so it skips the heartbeat.
func TestDueCheckpointsReplaceTheHeartbeat(t *testing.T) {
	ctx := context.Background()
	ns := fmt.Sprintf("due-%d", time.Now().UnixNano())
	clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	var beats atomic.Int64
	src := NewMemorySource(4)
	renew := blobstore.DefaultRenewInterval
	h := manualGroup(t, ns, clock, src, 1, func(b driver.Bucket) driver.Bucket { return presencePuts{b, &beats} },
		Options{Checkpoint: CheckpointPolicy{EveryInterval: renew}})[0]
	seq := int64(0)
	round := func() {
		seq++
		markAll(ctx, t, h, seq)
		clock.Advance(renew)
		h.cycle(ctx)
	}
	for range 3 {
		round()
	}
	if len(h.Owned()) != 4 {
		t.Fatalf("owns %v", h.Owned())
	}
	beats.Store(0)
	before := h.Stats().Checkpoints
	for range 10 {
		round()
	}
	if n := beats.Load(); n != 0 {
		t.Errorf("%d heartbeats in 10 cycles whose due checkpoints renewed every lease", n)
	}
	if n := h.Stats().Checkpoints - before; n != 40 {
		t.Errorf("%d checkpoints written in 10 cycles of 4 partitions, want 40", n)
	}
}

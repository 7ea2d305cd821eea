package processor

// A test harness that runs a whole group of hosts on one in-memory store and
// drives their balancing cycles step by step on manual clocks.

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/internal/clocktest"
)

const (
	testLease = 30 * time.Second
	testRenew = 10 * time.Second
)

var groupSeq atomic.Int64

type group struct {
	t       *testing.T
	ctx     context.Context
	ns      string
	src     *MemorySource
	rec     *recorder
	hosts   []*member
	opts    Options
	elapsed time.Duration
}

type member struct {
	h     *Host
	clock *clocktest.Clock
	store *blobstore.Store
	alive bool
}

func newGroup(t *testing.T, partitions int) *group {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	g := &group{t: t, ctx: ctx, ns: fmt.Sprintf("processor-test-%d", groupSeq.Add(1)),
		src: NewMemorySource(partitions), rec: newRecorder()}
	t.Cleanup(func() {
		for _, m := range g.hosts {
			if m.alive {
				m.h.stop(true)
			}
			m.store.Close()
		}
		cancel()
		if err := g.rec.violation(); err != nil {
			t.Error(err)
		}
	})
	return g
}

// add starts a host whose clock reads skew ahead of the group's.
func (g *group) add(name string, skew time.Duration) *member {
	g.t.Helper()
	// Every clock advances in lockstep with the group's elapsed time; a
	// host's reading differs from the others' by its skew.
	clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(g.elapsed + skew))
	s, err := blobstore.Open(g.ctx, "mem://"+g.ns, &blobstore.Options{Owner: name,
		LeaseDuration: testLease, RenewInterval: testRenew, Clock: clock})
	if err != nil {
		g.t.Fatal(err)
	}
	return g.join(name, s, clock)
}

// join starts a host of the group on store s, whose clock is clock.
func (g *group) join(name string, s *blobstore.Store, clock *clocktest.Clock) *member {
	g.t.Helper()
	o := g.opts
	o.Clock = clock
	h, err := New(s, g.src, g.rec.factory(name), &o)
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

// round runs one balancing cycle on every live host, in order. After each
// host's cycle it waits for the handovers that cycle began (a shed worker
// flushes and releases in its own goroutine): the next host must see them,
// as it would a cycle later in real time. Counting on them to finish at
// once made a join steal on a busy machine (make stress).
func (g *group) round() {
	for _, m := range g.hosts {
		if m.alive {
			m.h.cycle(g.ctx)
			waitHandovers(m.h)
		}
	}
}

// waitHandovers waits, at most ten seconds, until none of h's workers is
// stopping.
func waitHandovers(h *Host) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		stopping := false
		for _, w := range h.snapshot() {
			if w.p.ctx.Err() != nil {
				stopping = true
			}
		}
		if !stopping {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// advance moves every host's clock forward by d.
func (g *group) advance(d time.Duration) {
	g.elapsed += d
	for _, m := range g.hosts {
		m.clock.Advance(d)
	}
}

// kill stops a host as if its process died: no flush, no release, no leave.
func (g *group) kill(m *member) {
	m.h.stop(false)
	m.alive = false
}

// shutdown stops a host gracefully.
func (g *group) shutdown(m *member) {
	m.h.stop(true)
	m.alive = false
}

// counts returns, per live host, how many partitions it is processing, and
// how many partitions no live host processes.
func (g *group) counts() (per map[string]int, orphans int) {
	per = map[string]int{}
	owned := map[string]bool{}
	for _, m := range g.hosts {
		if !m.alive {
			continue
		}
		ids := m.h.Owned()
		per[m.h.Name()] = len(ids)
		for _, id := range ids {
			owned[id] = true
		}
	}
	n, _ := g.src.Partitions(g.ctx)
	return per, len(n) - len(owned)
}

func (g *group) balanced() bool {
	per, orphans := g.counts()
	if orphans > 0 {
		return false
	}
	lo, hi := 1<<30, -1
	for _, c := range per {
		lo, hi = min(lo, c), max(hi, c)
	}
	return hi-lo <= 1
}

func (g *group) steals() (n int64) {
	for _, m := range g.hosts {
		n += m.h.Stats().Steals
	}
	return n
}

// settle runs rounds, a renew interval apart, until the group is balanced.
func (g *group) settle(maxRounds int) int {
	g.t.Helper()
	for r := 1; r <= maxRounds; r++ {
		g.advance(testRenew)
		g.round()
		if g.balanced() {
			return r
		}
	}
	per, orphans := g.counts()
	g.t.Fatalf("not balanced after %d rounds: %v, %d orphaned", maxRounds, per, orphans)
	return 0
}

// recorder is the processors' shared log: who opened which partition at
// which epoch, and which events were processed.
type recorder struct {
	mu        sync.Mutex
	opened    map[string]string // partition/epoch -> host
	problems  []string
	processed map[string]map[int64]int // partition -> sequence -> times
	closes    map[CloseReason]int
}

func newRecorder() *recorder {
	return &recorder{opened: map[string]string{}, processed: map[string]map[int64]int{}, closes: map[CloseReason]int{}}
}

func (r *recorder) violation() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.problems) > 0 {
		return fmt.Errorf("invariant violations:\n%s", strings.Join(r.problems, "\n"))
	}
	return nil
}

func (r *recorder) factory(host string) func(string) Processor {
	return func(string) Processor { return &recProc{r: r, host: host} }
}

type recProc struct {
	r    *recorder
	host string
}

func (p *recProc) Open(_ context.Context, pt *Partition) error {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	k := fmt.Sprintf("%s/%d", pt.ID, pt.Epoch)
	if prev, ok := p.r.opened[k]; ok {
		p.r.problems = append(p.r.problems, fmt.Sprintf("partition %s epoch %d opened by %s and %s", pt.ID, pt.Epoch, prev, p.host))
	}
	p.r.opened[k] = p.host
	return nil
}

func (p *recProc) Process(ctx context.Context, pt *Partition, evs []Event) error {
	// Mark first and record after: a test that waits until events are
	// recorded then also sees the checkpoint write they caused (counting
	// before it finished failed on a busy machine).
	err := pt.Checkpoint(ctx, evs[len(evs)-1])
	p.r.mu.Lock()
	m := p.r.processed[pt.ID]
	if m == nil {
		m = map[int64]int{}
		p.r.processed[pt.ID] = m
	}
	for _, ev := range evs {
		m[ev.SequenceNumber]++
	}
	p.r.mu.Unlock()
	return err
}

func (p *recProc) Close(_ context.Context, _ *Partition, reason CloseReason) error {
	p.r.mu.Lock()
	p.r.closes[reason]++
	p.r.mu.Unlock()
	return nil
}

// TestMain fails the package if a test leaves goroutines behind.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			fmt.Fprintf(os.Stderr, "leaked goroutines: %d before, %d after\n%s\n", before, n, buf[:runtime.Stack(buf, true)])
			code = 1
		}
	}
	os.Exit(code)
}

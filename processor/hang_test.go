package processor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/membucket"
)

// hangKey blocks every request on the keys it names (reads and writes)
// until the caller's context ends, while hang is set: a network path to
// some objects that stopped answering.
type hangKey struct {
	*membucket.Bucket
	keys   map[string]bool
	prefix string // and every key under it, if not empty
	hang   *atomic.Bool
}

func (b hangKey) hangs(key string) bool {
	return b.hang.Load() && (b.keys[key] || (b.prefix != "" && strings.HasPrefix(key, b.prefix)))
}

func (b hangKey) Get(ctx context.Context, key string) (driver.Object, error) {
	if b.hangs(key) {
		<-ctx.Done()
		return driver.Object{}, fmt.Errorf("hung read: %w", ctx.Err())
	}
	return b.Bucket.Get(ctx, key)
}

func (b hangKey) Put(ctx context.Context, key string, data []byte, v string) (string, error) {
	if b.hangs(key) {
		<-ctx.Done()
		return "", fmt.Errorf("hung write: %w", ctx.Err())
	}
	return b.Bucket.Put(ctx, key, data, v)
}

// lostRecorder counts, per partition, the times processing stopped because
// the lease was lost.
type lostRecorder struct {
	mu   sync.Mutex
	lost map[string]int
}

type lostProc struct {
	r *lostRecorder
}

func (lostProc) Open(context.Context, *Partition) error { return nil }
func (lostProc) Process(context.Context, *Partition, []Event) error {
	return nil
}

func (p lostProc) Close(_ context.Context, pt *Partition, reason CloseReason) error {
	if reason == LeaseLost {
		p.r.mu.Lock()
		p.r.lost[pt.ID]++
		p.r.mu.Unlock()
	}
	return nil
}

// Hardening item 3: a partition whose requests hang (the renewal's write
// and then its read-back, each bounded) must not hold up the renewals of the
// host's other partitions. With a 3 s lease, before the fix the cycle waited
// for the hung partition's renewal (1 s timeout + 5 s read-back), so every
// healthy partition of the host lapsed. The host's presence record hangs
// too: its heartbeat would otherwise renew every lease and no partition's
// record would be written at all.
func TestHungPartitionDoesNotLapseTheOthers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 11 s of real time")
	}
	var hang atomic.Bool
	ns := fmt.Sprintf("hung-%d", time.Now().UnixNano())
	s, err := blobstore.New(hangKey{membucket.Open(ns), map[string]bool{"0.json": true}, ".hosts/a/", &hang}, &blobstore.Options{Owner: "a",
		LeaseDuration: 3 * time.Second, RenewInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := &lostRecorder{lost: map[string]int{}}
	h, err := New(s, NewMemorySource(4), func(string) Processor { return lostProc{rec} }, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(runCtx) }()
	deadline := time.Now().Add(20 * time.Second)
	for len(h.Owned()) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("the host owns %v, want all four partitions", h.Owned())
		}
		time.Sleep(20 * time.Millisecond)
	}
	hang.Store(true)
	time.Sleep(10 * time.Second) // more than three lease durations
	rec.mu.Lock()
	lost := map[string]int{}
	for id, n := range rec.lost {
		lost[id] = n
	}
	rec.mu.Unlock()
	owned := h.Owned()
	hang.Store(false)
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"1", "2", "3"} {
		if lost[id] != 0 {
			t.Errorf("healthy partition %s was lost %d times while partition 0 hung (owned at the end: %v)", id, lost[id], owned)
		}
	}
	if lost["0"] == 0 {
		t.Errorf("the hung partition 0 was never given up (lost counts %v): the fault did not bite", lost)
	}
}

// concurrentHangs blocks Puts of the keys under a prefix until the caller's context ends and
// records how many were hung at once.
type concurrentHangs struct {
	*membucket.Bucket
	key       string
	hang      *atomic.Bool
	now, peak atomic.Int32
}

func (b *concurrentHangs) Put(ctx context.Context, key string, data []byte, v string) (string, error) {
	if b.hang.Load() && strings.HasPrefix(key, b.key) {
		n := b.now.Add(1)
		for p := b.peak.Load(); n > p && !b.peak.CompareAndSwap(p, n); p = b.peak.Load() {
		}
		<-ctx.Done()
		b.now.Add(-1)
		return "", fmt.Errorf("hung write: %w", ctx.Err())
	}
	return b.Bucket.Put(ctx, key, data, v)
}

// stop waits for every request a cycle started, the heartbeat included: no
// goroutine of the host outlives Run.
func TestStopWaitsForAHungHeartbeat(t *testing.T) {
	var hang atomic.Bool
	ns := fmt.Sprintf("heartbeat-%d", time.Now().UnixNano())
	bkt := &concurrentHangs{Bucket: membucket.Open(ns), hang: &hang}
	s, err := blobstore.New(bkt, &blobstore.Options{Owner: "a", LeaseDuration: 3 * time.Second, RenewInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bkt.key = ".hosts/a/"
	h, err := New(s, NewMemorySource(1), func(string) Processor { return lostProc{&lostRecorder{lost: map[string]int{}}} }, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.start(ctx); err != nil {
		t.Fatal(err)
	}
	hang.Store(true)
	h.cycle(ctx) // the heartbeat hangs (1 s), the cycle goes on after 0.5 s
	if bkt.now.Load() != 1 {
		t.Fatalf("%d heartbeats in flight after the cycle, want the hung one", bkt.now.Load())
	}
	h.stop(false)
	if n := bkt.now.Load(); n != 0 {
		t.Fatalf("stop returned with %d heartbeat writes still in flight", n)
	}
}

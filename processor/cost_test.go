package processor

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/membucket"
	"github.com/tidemark/tidemark/internal/clocktest"
)

// countingBucket counts every storage request a group makes.
type countingBucket struct {
	driver.Bucket
	n *atomic.Int64
}

func (b countingBucket) Get(ctx context.Context, key string) (driver.Object, error) {
	b.n.Add(1)
	return b.Bucket.Get(ctx, key)
}

func (b countingBucket) Put(ctx context.Context, key string, data []byte, v string) (string, error) {
	b.n.Add(1)
	return b.Bucket.Put(ctx, key, data, v)
}

func (b countingBucket) Delete(ctx context.Context, key, v string) error {
	b.n.Add(1)
	return b.Bucket.Delete(ctx, key, v)
}

func (b countingBucket) List(ctx context.Context, prefix, token string) ([]string, string, error) {
	b.n.Add(1)
	return b.Bucket.List(ctx, prefix, token)
}

// BenchmarkGroupRequests reports the storage requests an idle, balanced
// group makes per partition-hour at the default timings (lease 30 s, renew
// and balance 10 s), on a manual clock: what users pay for. Each iteration
// is one simulated hour.
func BenchmarkGroupRequests(b *testing.B) {
	for _, g := range []struct{ partitions, hosts int }{{32, 1}, {32, 4}, {32, 16}, {256, 4}} {
		b.Run(fmt.Sprintf("P%d-H%d", g.partitions, g.hosts), func(b *testing.B) {
			ctx := context.Background()
			ns := fmt.Sprintf("cost-%d-%d-%d", g.partitions, g.hosts, time.Now().UnixNano())
			clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			var n atomic.Int64
			src := NewMemorySource(g.partitions)
			var hosts []*Host
			for i := range g.hosts {
				s, err := blobstore.New(countingBucket{membucket.Open(ns), &n}, &blobstore.Options{
					Owner: fmt.Sprintf("h%d", i), Clock: clock})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				h, err := New(s, src, func(string) Processor { return lostProc{&lostRecorder{lost: map[string]int{}}} }, &Options{Clock: clock})
				if err != nil {
					b.Fatal(err)
				}
				if err := h.start(ctx); err != nil {
					b.Fatal(err)
				}
				hosts = append(hosts, h)
			}
			round := func() {
				for _, h := range hosts {
					h.cycle(ctx)
				}
				clock.Advance(10 * time.Second)
			}
			for range 30 { // converge
				round()
			}
			n.Store(0)
			b.ResetTimer()
			for range b.N {
				for range 360 { // one hour of 10 s cycles
					round()
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(n.Load())/float64(b.N)/float64(g.partitions), "req/partition-hour")
			for _, h := range hosts {
				h.stop(false)
			}
		})
	}
}

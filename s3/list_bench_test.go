package s3

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

// BenchmarkListLeases1024 compares, in one run on MinIO, a balancer's view
// of 1,024 partitions with one raw listing of the same keys: raw-listing
// pages through ListObjectsV2; list-leases is ListLeases by a store that has
// read the records before (a balancer's steady state: it reads only records
// whose version changed, here none); scan is Store.Scan, hosts included. The
// bar: list-leases within 2x raw-listing.
func BenchmarkListLeases1024(b *testing.B) {
	e := lookupEmulator(b, "minio", "TIDEMARK_MINIO")
	ctx := testContext(b, 10*time.Minute)
	name := newTestBucket(ctx, b, e)
	const partitions = 1024
	s, err := blobstore.New(newBucket(b, e, name, nil, nil), &blobstore.Options{Prefix: "list/", Owner: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateStoreIfNotExists(ctx); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range partitions {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := s.CreateLeaseIfNotExists(ctx, fmt.Sprintf("p%04d", i)); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
	if err := s.Heartbeat(ctx); err != nil {
		b.Fatal(err)
	}

	b.Run("raw-listing", func(b *testing.B) {
		c := newCounter()
		bkt := newBucket(b, e, name, c, nil)
		for b.Loop() {
			n := 0
			for token := ""; ; {
				entries, next, err := bkt.List(ctx, "list/", token)
				if err != nil {
					b.Fatal(err)
				}
				n += len(entries)
				if token = next; token == "" {
					break
				}
			}
			if n < partitions {
				b.Fatalf("listed %d keys", n)
			}
		}
		b.ReportMetric(float64(c.n.Load())/float64(b.N), "req/op")
	})
	warm := func(b *testing.B) (*blobstore.Store, *counter) {
		b.Helper()
		c := newCounter()
		st, err := blobstore.New(newBucket(b, e, name, c, nil), &blobstore.Options{Prefix: "list/", Owner: "observer"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		if _, err := st.ListLeases(ctx); err != nil { // reads every record once
			b.Fatal(err)
		}
		c.n.Store(0)
		return st, c
	}
	b.Run("list-leases", func(b *testing.B) {
		st, c := warm(b)
		for b.Loop() {
			leases, err := st.ListLeases(ctx)
			if err != nil || len(leases) != partitions {
				b.Fatalf("ListLeases: %d leases, %v", len(leases), err)
			}
		}
		b.ReportMetric(float64(c.n.Load())/float64(b.N), "req/op")
	})
	b.Run("scan", func(b *testing.B) {
		st, c := warm(b)
		for b.Loop() {
			snap, err := st.Scan(ctx, nil)
			if err != nil || len(snap.Leases) != partitions || len(snap.Hosts) != 1 {
				b.Fatalf("Scan: %d leases, %d hosts, %v", len(snap.Leases), len(snap.Hosts), err)
			}
		}
		b.ReportMetric(float64(c.n.Load())/float64(b.N), "req/op")
	})
}

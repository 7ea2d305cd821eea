package conformance

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

// Benchmark measures, on one harness and in one run, the Store's checkpoint
// update against the raw driver's compare-and-swap write of a record of the
// same size: the ratio of the two is the Store's overhead. Provider packages
// add a third sub-benchmark with their SDK's own conditional write.
//
//	BenchmarkStore/UpdateCheckpoint   the Store: one conditional write each
//	BenchmarkStore/DriverCAS          the driver's Put with ifVersion, same bytes
func Benchmark(b *testing.B, h Harness) {
	b.Run("UpdateCheckpoint", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		drv, err := h.OpenBucket(ctx)
		if err != nil {
			b.Fatal(err)
		}
		s, err := blobstore.New(drv, &blobstore.Options{Prefix: "bench-" + randomHex(4) + "/", Owner: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if err := s.CreateStoreIfNotExists(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := s.CreateLeaseIfNotExists(ctx, "0"); err != nil {
			b.Fatal(err)
		}
		l, err := s.Acquire(ctx, "0")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			cp := blobstore.Checkpoint{Offset: strconv.Itoa(1000000 + i), SequenceNumber: int64(i)}
			if err := s.UpdateCheckpoint(ctx, l, cp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("DriverCAS", func(b *testing.B) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		drv, err := h.OpenBucket(ctx)
		if err != nil {
			b.Fatal(err)
		}
		defer drv.Close()
		key := "bench-" + randomHex(4) + "/0.json"
		v, err := drv.Put(ctx, key, BenchRecord(0), driver.CreateOnly)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 1; b.Loop(); i++ {
			if v, err = drv.Put(ctx, key, BenchRecord(i), v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchRecord returns a record-sized JSON body (about the size the Store
// writes for a held lease with a checkpoint) that differs for every i, for
// raw-SDK comparison loops.
func BenchRecord(i int) []byte {
	return fmt.Appendf(nil, `{"schema":1,"partition":"0","owner":"bench","token":"0123456789abcdef0123456789abcdef",`+
		`"epoch":1,"counter":%d,"checkpoint":{"offset":"%d","sequence":%d},"updated":"2026-11-23T21:40:00.123Z"}`,
		i+2, 1000000+i, i)
}

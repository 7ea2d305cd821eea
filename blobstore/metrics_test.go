package blobstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/membucket"
	"github.com/tidemark/tidemark/internal/metricstest"
)

func TestStoreRequestMetrics(t *testing.T) {
	ns := fmt.Sprintf("metrics-%d", time.Now().UnixNano())
	metricstest.CheckStoreRequests(t, "mem", func(context.Context) (driver.Bucket, error) { return membucket.Open(ns), nil })
}

// BenchmarkCheckpointMetrics: a checkpoint on memory without metrics (the
// default: the driver is not wrapped, so the path is the one without
// metrics) and with an OpenTelemetry SDK MeterProvider.
func BenchmarkCheckpointMetrics(b *testing.B) {
	for _, withMetrics := range []bool{false, true} {
		b.Run(fmt.Sprintf("metrics=%v", withMetrics), func(b *testing.B) {
			ctx := context.Background()
			opts := &blobstore.Options{Owner: "bench"}
			if withMetrics {
				mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
				defer func() { _ = mp.Shutdown(ctx) }()
				opts.MeterProvider = mp
			}
			s, err := blobstore.New(membucket.Open(fmt.Sprintf("bench-metrics-%d", time.Now().UnixNano())), opts)
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
			for i := range b.N {
				if err := s.UpdateCheckpoint(ctx, l, blobstore.Checkpoint{PartitionID: "0", Offset: "1", SequenceNumber: int64(i + 1)}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestStoreRequestSpans(t *testing.T) {
	ns := fmt.Sprintf("traces-%d", time.Now().UnixNano())
	metricstest.CheckStoreSpans(t, "mem", func(context.Context) (driver.Bucket, error) { return membucket.Open(ns), nil })
}

func TestStoreOutcomeMetrics(t *testing.T) {
	ns := fmt.Sprintf("outcomes-%d", time.Now().UnixNano())
	metricstest.CheckStoreOutcomes(t, "mem", func(context.Context) (driver.Bucket, error) { return membucket.Open(ns), nil })
}

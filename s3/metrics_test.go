package s3

import (
	"context"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/internal/metricstest"
)

// TestStoreRequestMetrics checks the Store's request metrics against a
// counting driver on MinIO.
func TestStoreRequestMetrics(t *testing.T) {
	e := lookupEmulator(t, "minio", "TIDEMARK_MINIO")
	name := newTestBucket(testContext(t, time.Minute), t, e)
	metricstest.CheckStoreRequests(t, "s3", func(ctx context.Context) (driver.Bucket, error) {
		return OpenBucket(ctx, e.client(nil), name, nil)
	})
}

// TestStoreRequestSpans checks the Store's request spans against a
// counting driver on MinIO.
func TestStoreRequestSpans(t *testing.T) {
	e := lookupEmulator(t, "minio", "TIDEMARK_MINIO")
	name := newTestBucket(testContext(t, time.Minute), t, e)
	metricstest.CheckStoreSpans(t, "s3", func(ctx context.Context) (driver.Bucket, error) {
		return OpenBucket(ctx, e.client(nil), name, nil)
	})
}

// TestStoreOutcomeMetrics checks the Store's conflict, uncertain-write and
// corrupt-record counters on MinIO.
func TestStoreOutcomeMetrics(t *testing.T) {
	e := lookupEmulator(t, "minio", "TIDEMARK_MINIO")
	name := newTestBucket(testContext(t, time.Minute), t, e)
	metricstest.CheckStoreOutcomes(t, "s3", func(ctx context.Context) (driver.Bucket, error) {
		return OpenBucket(ctx, e.client(nil), name, nil)
	})
}

package conformance

import (
	"context"
	"testing"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// Harness gives the suite access to one provider's namespace (a bucket, a
// directory, a memory namespace). The suite isolates its tests from one
// another with a fresh key prefix per test, so one namespace serves them all.
type Harness interface {
	// OpenBucket opens a new, distinct driver value on the harness's
	// namespace. Values opened by one harness must observe each other's
	// writes, as separate processes sharing the store would.
	OpenBucket(ctx context.Context) (driver.Bucket, error)
	// Close releases what the harness holds.
	Close()
}

// HarnessMaker makes a Harness for one run of the suite.
type HarnessMaker func(ctx context.Context, t *testing.T) (Harness, error)

// MissingBucketHarness is implemented by a harness that can open a driver on
// a container (bucket, directory) that does not exist, for the Driver group's
// missing-bucket case. A harness without it skips that case, saying so.
type MissingBucketHarness interface {
	OpenMissingBucket(ctx context.Context) (driver.Bucket, error)
}

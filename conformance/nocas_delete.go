package conformance

import (
	"context"
	"sync"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// WithoutConditionalDelete wraps a harness so that its buckets behave as
// MinIO and fake-gcs-server do: Delete ignores its version condition, and the
// bucket says it has no conditional delete. Running the suite through it on
// an embedded driver covers, on every run, the paths the Store takes for
// such providers.
func WithoutConditionalDelete(h Harness) Harness { return unconditionalHarness{h} }

type unconditionalHarness struct{ Harness }

func (h unconditionalHarness) OpenBucket(ctx context.Context) (driver.Bucket, error) {
	b, err := h.Harness.OpenBucket(ctx)
	if err != nil {
		return nil, err
	}
	return &unconditionalDelete{Bucket: b}, nil
}

// unconditionalDelete is a bucket whose Delete ignores its condition. A test
// can delay its next delete with beforeDelete, as a slow network or an SDK
// retry would.
type unconditionalDelete struct {
	driver.Bucket
	mu           sync.Mutex
	beforeDelete func(key string)
}

func (b *unconditionalDelete) Capabilities() driver.Capabilities { return driver.Capabilities{} }

func (b *unconditionalDelete) Delete(ctx context.Context, key, _ string) error {
	b.mu.Lock()
	f := b.beforeDelete
	b.beforeDelete = nil
	b.mu.Unlock()
	if f != nil {
		f(key)
	}
	return b.Bucket.Delete(ctx, key, "")
}

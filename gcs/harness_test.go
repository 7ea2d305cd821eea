package gcs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	gcstorage "cloud.google.com/go/storage"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/conformance"
)

// harness serves the conformance suite one emulator bucket, shared by every
// driver value it opens (the suite isolates cases by key prefix).
type harness struct {
	client *gcstorage.Client
	bucket string
}

var (
	_ conformance.Harness              = (*harness)(nil)
	_ conformance.MissingBucketHarness = (*harness)(nil)
)

// OpenBucket opens a new driver value on the shared bucket, as another
// process would.
func (h *harness) OpenBucket(ctx context.Context) (driver.Bucket, error) {
	return OpenBucket(ctx, h.client, h.bucket, nil)
}

// OpenMissingBucket implements conformance.MissingBucketHarness: a driver on
// a bucket of the emulator that is never created.
func (h *harness) OpenMissingBucket(ctx context.Context) (driver.Bucket, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	return OpenBucket(ctx, h.client, "tm-missing-"+hex.EncodeToString(rnd[:]), nil)
}

// Close does nothing: the client and the bucket go with the test's cleanups.
func (h *harness) Close() {}

func newHarness(ctx context.Context, t *testing.T) (conformance.Harness, error) {
	t.Helper()
	c := emulatorClient(t)
	return &harness{client: c, bucket: newBucket(ctx, t, c)}, nil
}

func TestConformance(t *testing.T) {
	requireEmulator(t)
	conformance.Run(t, newHarness)
}

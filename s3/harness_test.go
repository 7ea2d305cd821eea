package s3

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/conformance"
)

// harness gives the conformance suite one bucket on one emulator; every
// OpenBucket is a new client and driver value on it, as another process
// would have.
type harness struct {
	e    emulator
	name string
}

var (
	_ conformance.Harness              = (*harness)(nil)
	_ conformance.MissingBucketHarness = (*harness)(nil)
)

// harnessMaker is the conformance.HarnessMaker for e. The bucket is created
// there and emptied and deleted when the test ends.
func harnessMaker(e emulator) conformance.HarnessMaker {
	return func(ctx context.Context, t *testing.T) (conformance.Harness, error) {
		t.Helper()
		return &harness{e: e, name: newTestBucket(ctx, t, e)}, nil
	}
}

func (h *harness) OpenBucket(ctx context.Context) (driver.Bucket, error) {
	return OpenBucket(ctx, h.e.client(nil), h.name, nil)
}

// OpenMissingBucket implements conformance.MissingBucketHarness: a driver on
// a bucket that is never created.
func (h *harness) OpenMissingBucket(ctx context.Context) (driver.Bucket, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	return OpenBucket(ctx, h.e.client(nil), "tm-missing-"+hex.EncodeToString(rnd[:]), nil)
}

func (h *harness) Close() {}

// TestHarness checks the harness itself: two values opened by it see each
// other's writes.
func TestHarness(t *testing.T) {
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		ctx := testContext(t, 30*time.Second)
		h, err := harnessMaker(e)(ctx, t)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		a, err := h.OpenBucket(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := h.OpenBucket(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if a == b {
			t.Fatal("OpenBucket returned the same value twice")
		}
		v, err := a.Put(ctx, "h.json", []byte(`{}`), driver.CreateOnly)
		if err != nil {
			t.Fatal(err)
		}
		if obj, err := b.Get(ctx, "h.json"); err != nil || obj.Version != v {
			t.Fatalf("second value: %v %q, want version %q", err, obj.Version, v)
		}
	})
}

// TestConformance runs the shared storage contract on MinIO and versitygw.
func TestConformance(t *testing.T) {
	forEachEmulator(t, func(t *testing.T, e emulator) {
		t.Helper()
		conformance.Run(t, harnessMaker(e))
	})
}

package azblob

import (
	"context"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/conformance"
)

// harness gives the conformance suite one Azurite container; every
// OpenBucket is a new client and driver value on it, as another process
// would have.
type harness struct {
	cs, name string
}

var (
	_ conformance.Harness              = (*harness)(nil)
	_ conformance.MissingBucketHarness = (*harness)(nil)
)

// newHarness is the conformance.HarnessMaker for this provider. The container
// is created here and deleted when the test ends.
func newHarness(ctx context.Context, t *testing.T) (conformance.Harness, error) {
	t.Helper()
	cs, c := newContainer(ctx, t)
	return &harness{cs: cs, name: containerNameOf(c)}, nil
}

func (h *harness) OpenBucket(ctx context.Context) (driver.Bucket, error) {
	c, err := container.NewClientFromConnectionString(h.cs, h.name, nil)
	if err != nil {
		return nil, err
	}
	return OpenBucket(ctx, c, nil)
}

// OpenMissingBucket opens a driver on a container of the same account that
// was never created.
func (h *harness) OpenMissingBucket(ctx context.Context) (driver.Bucket, error) {
	c, err := container.NewClientFromConnectionString(h.cs, h.name+"-missing", nil)
	if err != nil {
		return nil, err
	}
	return OpenBucket(ctx, c, nil)
}

func (h *harness) Close() {}

// TestHarness checks the harness itself: two values opened by it see each
// other's writes.
func TestHarness(t *testing.T) {
	ctx := testContext(t, 30*time.Second)
	h, err := newHarness(ctx, t)
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
	v, err := a.Put(ctx, "h.json", []byte(`{}`), driver.CreateOnly)
	if err != nil {
		t.Fatal(err)
	}
	if obj, err := b.Get(ctx, "h.json"); err != nil || obj.Version != v {
		t.Fatalf("second value: %v %q, want version %q", err, obj.Version, v)
	}
}

// TestConformance runs the shared storage contract on Azurite.
func TestConformance(t *testing.T) {
	azurite(t)
	conformance.Run(t, newHarness)
}

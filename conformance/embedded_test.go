package conformance_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/filebucket"
	"github.com/tidemark/tidemark/blobstore/membucket"
	"github.com/tidemark/tidemark/conformance"
)

var memRuns atomic.Int64

// memHarness does not implement conformance.MissingBucketHarness: a memory
// namespace is made on first use, so none can be missing, and the Driver
// group's missing-bucket case skips.
type memHarness struct{ name string }

func (h memHarness) OpenBucket(context.Context) (driver.Bucket, error) {
	return membucket.Open(h.name), nil
}
func (memHarness) Close() {}

func TestMemory(t *testing.T) {
	conformance.Run(t, func(context.Context, *testing.T) (conformance.Harness, error) {
		return memHarness{name: fmt.Sprintf("conformance-%d", memRuns.Add(1))}, nil
	})
}

type fileHarness struct {
	dir string
	// absent is an existing directory below which OpenMissingBucket names
	// directories that do not exist.
	absent string
}

var _ conformance.MissingBucketHarness = fileHarness{}

func (h fileHarness) OpenBucket(context.Context) (driver.Bucket, error) {
	return filebucket.Open(h.dir)
}

// OpenMissingBucket opens a directory that does not exist, a new one on every
// call: the driver makes its directory on the first write.
func (h fileHarness) OpenMissingBucket(context.Context) (driver.Bucket, error) {
	if h.absent == "" {
		return nil, fmt.Errorf("fileHarness: no directory for missing buckets")
	}
	return filebucket.Open(filepath.Join(h.absent, fmt.Sprintf("missing-%d", fileMissing.Add(1))))
}

func (fileHarness) Close() {}

var fileMissing atomic.Int64

func TestFile(t *testing.T) {
	conformance.Run(t, func(_ context.Context, t *testing.T) (conformance.Harness, error) {
		t.Helper()
		return fileHarness{dir: t.TempDir(), absent: t.TempDir()}, nil
	})
}

func BenchmarkMemory(b *testing.B) {
	conformance.Benchmark(b, memHarness{name: "bench"})
}

func BenchmarkFile(b *testing.B) {
	conformance.Benchmark(b, fileHarness{dir: b.TempDir()})
}

// hangingBucket makes every request wait for its context while hung: the
// in-memory stand-in for a network path that stops forwarding (the providers
// run the same check over their real transports).
type hangingBucket struct {
	driver.Bucket
	hung atomic.Bool
}

func (b *hangingBucket) Hang()   { b.hung.Store(true) }
func (b *hangingBucket) Unhang() { b.hung.Store(false) }

func (b *hangingBucket) wait(ctx context.Context) error {
	if !b.hung.Load() {
		return nil
	}
	<-ctx.Done()
	return fmt.Errorf("hung: %w", ctx.Err())
}

func (b *hangingBucket) Get(ctx context.Context, key string) (driver.Object, error) {
	if err := b.wait(ctx); err != nil {
		return driver.Object{}, err
	}
	return b.Bucket.Get(ctx, key)
}

func (b *hangingBucket) Put(ctx context.Context, key string, data []byte, v string) (string, error) {
	if err := b.wait(ctx); err != nil {
		return "", err
	}
	return b.Bucket.Put(ctx, key, data, v)
}

func (b *hangingBucket) List(ctx context.Context, prefix, token string) ([]driver.Entry, string, error) {
	if err := b.wait(ctx); err != nil {
		return nil, "", err
	}
	return b.Bucket.List(ctx, prefix, token)
}

func TestMemoryHungHost(t *testing.T) {
	name := fmt.Sprintf("hung-%d", memRuns.Add(1))
	a := &hangingBucket{Bucket: membucket.Open(name)}
	conformance.RunHungHost(t, a, membucket.Open(name), a)
}

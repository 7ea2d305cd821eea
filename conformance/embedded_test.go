package conformance_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/filebucket"
	"github.com/tidemark/tidemark/blobstore/membucket"
	"github.com/tidemark/tidemark/conformance"
)

var memRuns atomic.Int64

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

type fileHarness struct{ dir string }

func (h fileHarness) OpenBucket(context.Context) (driver.Bucket, error) {
	return filebucket.Open(h.dir)
}
func (fileHarness) Close() {}

func TestFile(t *testing.T) {
	conformance.Run(t, func(_ context.Context, t *testing.T) (conformance.Harness, error) {
		t.Helper()
		return fileHarness{dir: t.TempDir()}, nil
	})
}

func BenchmarkMemory(b *testing.B) {
	conformance.Benchmark(b, memHarness{name: "bench"})
}

func BenchmarkFile(b *testing.B) {
	conformance.Benchmark(b, fileHarness{dir: b.TempDir()})
}

// The memory driver again, behaving as MinIO and fake-gcs-server do:
// Delete ignores its version condition.
func TestMemoryWithoutConditionalDelete(t *testing.T) {
	conformance.Run(t, func(context.Context, *testing.T) (conformance.Harness, error) {
		return conformance.WithoutConditionalDelete(memHarness{name: fmt.Sprintf("conformance-nocd-%d", memRuns.Add(1))}), nil
	})
}

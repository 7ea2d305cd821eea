package s3

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/processor"
)

// failingRead is a driver whose reads of one key always fail.
type failingRead struct {
	driver.Bucket
	key string
}

func (b failingRead) Get(ctx context.Context, key string) (driver.Object, error) {
	if key == b.key {
		return driver.Object{}, errors.New("injected: read failed")
	}
	return b.Bucket.Get(ctx, key)
}

// The balancing-at-scale bar: 1,024 partitions and 8 hosts on MinIO with a
// 2 s renew interval share the partitions out (every partition owned,
// max-min <= 1) within a minute's worth of cycles, while one record is
// corrupt and one host can never read another. (Run it without -race to
// check the bar: go test -run TestLargeGroupConverges ./s3/.)
func TestLargeGroupConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("a group of 8 hosts over 1,024 partitions on MinIO: about a minute")
	}
	e := lookupEmulator(t, "minio", "TIDEMARK_MINIO")
	ctx := testContext(t, 5*time.Minute)
	name := newTestBucket(ctx, t, e)
	// Under the race detector every request costs several times the CPU,
	// and make stress adds a CPU burner per core: the group is smaller
	// there. The bar itself is checked in a build without it.
	partitions, hosts, maxCycles := 1024, 8, int64(30)
	if raceDetector {
		partitions, hosts, maxCycles = 256, 4, 60
	}
	opts := func(owner string) *blobstore.Options {
		return &blobstore.Options{Prefix: "scale/", Owner: owner, LeaseDuration: 6 * time.Second, RenewInterval: 2 * time.Second}
	}
	admin, err := blobstore.New(newBucket(t, e, name, nil, nil), opts("admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateStoreIfNotExists(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	errs := make(chan error, partitions)
	for i := range partitions {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := admin.CreateLeaseIfNotExists(ctx, fmt.Sprint(i)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	raw := newBucket(t, e, name, nil, nil)
	cur, err := raw.Get(ctx, "scale/7.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Put(ctx, "scale/7.json", []byte("{not a record"), cur.Version); err != nil {
		t.Fatal(err)
	}

	src := processor.NewMemorySource(partitions)
	var group []*processor.Host
	runCtx, stop := context.WithCancel(ctx)
	var running sync.WaitGroup
	defer func() {
		stop()
		running.Wait()
	}()
	start := time.Now()
	for i := range hosts {
		var bkt driver.Bucket = newBucket(t, e, name, nil, nil)
		if i == 0 {
			bkt = failingRead{bkt, "scale/11.json"}
		}
		s, err := blobstore.New(bkt, opts(fmt.Sprintf("host-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() }) // after the hosts stopped
		h, err := processor.New(s, src, func(string) processor.Processor { return idle{} }, nil)
		if err != nil {
			t.Fatal(err)
		}
		group = append(group, h)
		running.Go(func() {
			if err := h.Run(runCtx); err != nil {
				t.Errorf("host %d: %v", i, err)
			}
		})
	}
	// Wall time depends on the machine (make stress runs this beside a CPU
	// burner): the bar is counted in balancing cycles, 30 of them being a
	// minute at the 2 s interval.
	for {
		owned, lo, hi := 0, partitions, 0
		var cycles int64
		for _, h := range group {
			n := len(h.Owned())
			owned += n
			lo, hi = min(lo, n), max(hi, n)
			cycles = max(cycles, h.Stats().Cycles)
		}
		if owned == partitions-1 && hi-lo <= 1 {
			t.Logf("converged in %d cycles, %v: %d partitions owned (the corrupt one left out), %d to %d per host",
				cycles, time.Since(start).Round(time.Millisecond), owned, lo, hi)
			break
		}
		if cycles > maxCycles {
			t.Fatalf("not converged after %d cycles (%v): %d of %d partitions owned, %d to %d per host",
				cycles, time.Since(start).Round(time.Second), owned, partitions-1, lo, hi)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, h := range group {
		for _, id := range h.Owned() {
			if id == "7" {
				t.Fatalf("%s processes the corrupt partition", h.Name())
			}
		}
	}
}

type idle struct{}

func (idle) Open(context.Context, *processor.Partition) error { return nil }
func (idle) Process(context.Context, *processor.Partition, []processor.Event) error {
	return nil
}
func (idle) Close(context.Context, *processor.Partition, processor.CloseReason) error { return nil }

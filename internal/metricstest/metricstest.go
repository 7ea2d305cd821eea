// Package metricstest checks Tidemark's OpenTelemetry metrics against exact
// counts, on any driver: the Store's request metrics must equal what a
// counting driver beneath them saw.
package metricstest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

// counting counts requests by operation and result, as the Store's
// metrics should.
type counting struct {
	driver.Bucket
	mu sync.Mutex
	n  map[[2]string]int64
}

func (c *counting) add(op string, err error) {
	res := "error"
	switch {
	case err == nil:
		res = "ok"
	case errors.Is(err, driver.ErrPrecondition), errors.Is(err, driver.ErrRetriedPrecondition):
		res = "precondition_failed"
	case errors.Is(err, driver.ErrNotFound):
		res = "not_found"
	}
	c.mu.Lock()
	c.n[[2]string{op, res}]++
	c.mu.Unlock()
}

func (c *counting) Get(ctx context.Context, key string) (driver.Object, error) {
	o, err := c.Bucket.Get(ctx, key)
	c.add("get", err)
	return o, err
}

func (c *counting) Put(ctx context.Context, key string, data []byte, v string) (string, error) {
	out, err := c.Bucket.Put(ctx, key, data, v)
	c.add("put", err)
	return out, err
}

func (c *counting) Delete(ctx context.Context, key string) error {
	err := c.Bucket.Delete(ctx, key)
	c.add("delete", err)
	return err
}

func (c *counting) List(ctx context.Context, prefix, token string) ([]driver.Entry, string, error) {
	es, next, err := c.Bucket.List(ctx, prefix, token)
	c.add("list", err)
	return es, next, err
}

// Requests reads tidemark.store.requests from r: count per operation and
// result, for provider.
func Requests(ctx context.Context, tb testing.TB, r *sdkmetric.ManualReader, provider string) map[[2]string]int64 {
	tb.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(ctx, &rm); err != nil {
		tb.Fatal(err)
	}
	out := map[[2]string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "tidemark.store.requests" {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || !sum.IsMonotonic {
				tb.Fatalf("tidemark.store.requests is %T, want a monotonic int64 sum", m.Data)
			}
			for _, dp := range sum.DataPoints {
				get := func(k string) string { v, _ := dp.Attributes.Value(attribute.Key(k)); return v.AsString() }
				if p := get("tidemark.provider"); p != provider {
					tb.Errorf("tidemark.provider %q, want %q", p, provider)
				}
				out[[2]string{get("tidemark.operation"), get("tidemark.result")}] += dp.Value
			}
		}
	}
	return out
}

// stores opens two hosts' stores over buckets from open, each through its
// own counting driver, with opts' MeterProvider and TracerProvider.
func stores(ctx context.Context, t *testing.T, provider string, opts blobstore.Options,
	open func(ctx context.Context) (driver.Bucket, error)) (a, b *blobstore.Store, counted func() map[[2]string]int64) {
	t.Helper()
	prefix := fmt.Sprintf("metrics-%d/", time.Now().UnixNano())
	var counts []*counting
	store := func(owner string) *blobstore.Store {
		bkt, err := open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c := &counting{Bucket: bkt, n: map[[2]string]int64{}}
		counts = append(counts, c)
		o := opts
		o.Prefix, o.Owner, o.Provider = prefix, owner, provider
		s, err := blobstore.New(c, &o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b = store("a"), store("b")
	return a, b, func() map[[2]string]int64 {
		want := map[[2]string]int64{}
		for _, c := range counts {
			c.mu.Lock()
			for k, v := range c.n {
				want[k] += v
			}
			c.mu.Unlock()
		}
		return want
	}
}

// workload makes two hosts create leases, acquire one, be refused one,
// checkpoint, list, heartbeat, read a missing checkpoint, release, and
// write as a zombie (refused).
func workload(ctx context.Context, t *testing.T, a, b *blobstore.Store) {
	t.Helper()
	if err := a.CreateStoreIfNotExists(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"0", "1", "2"} {
		if _, err := a.CreateLeaseIfNotExists(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	l, err := a.Acquire(ctx, "0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, "0"); !errors.Is(err, blobstore.ErrLeaseHeld) {
		t.Fatalf("second acquire: %v", err)
	}
	if err := a.UpdateCheckpoint(ctx, l, blobstore.Checkpoint{PartitionID: "0", Offset: "7", SequenceNumber: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ListLeases(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Heartbeat(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.GetCheckpoint(ctx, "9"); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx, l); err != nil {
		t.Fatal(err)
	}
	// A zombie's checkpoint: its compare-and-swap is refused.
	z, err := a.Acquire(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Steal(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	if err := a.UpdateCheckpoint(ctx, z, blobstore.Checkpoint{PartitionID: "1", Offset: "1", SequenceNumber: 1}); !errors.Is(err, blobstore.ErrLeaseLost) {
		t.Fatalf("zombie checkpoint: %v", err)
	}
}

// compare reports every (operation, result) whose count differs.
func compare(t *testing.T, what string, got, want map[[2]string]int64) {
	t.Helper()
	if len(want) == 0 {
		t.Fatal("the counting driver saw no request")
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("%s %s: %s say %d requests, the driver saw %d", k[0], k[1], what, got[k], want[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s %s: %s say %d requests, the driver saw none", k[0], k[1], what, got[k])
		}
	}
	if want[[2]string{"put", "precondition_failed"}] == 0 || want[[2]string{"get", "not_found"}] == 0 {
		t.Errorf("the workload made no refused write or no read of a missing key: %v", want)
	}
}

// CheckStoreRequests runs the workload of two hosts on buckets from open
// and checks that the Store's request metrics, read through a
// ManualReader, equal a counting driver's counts exactly, by operation and
// result, with the provider named.
func CheckStoreRequests(t *testing.T, provider string, open func(ctx context.Context) (driver.Bucket, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	a, b, counted := stores(ctx, t, provider, blobstore.Options{MeterProvider: mp}, open)
	workload(ctx, t, a, b)
	want := counted()
	compare(t, "metrics", Requests(ctx, t, reader, provider), want)
	t.Logf("requests by operation and result: %v", want)
}

// CheckStoreSpans runs the same workload with a TracerProvider and checks
// one span per request: named "tidemark.store <operation>", with the
// provider, a key, and the result the counting driver saw; status Error
// only for a result "error".
func CheckStoreSpans(t *testing.T, provider string, open func(ctx context.Context) (driver.Bucket, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	a, b, counted := stores(ctx, t, provider, blobstore.Options{TracerProvider: tp}, open)
	workload(ctx, t, a, b)
	got := map[[2]string]int64{}
	for _, s := range rec.Ended() {
		op, ok := strings.CutPrefix(s.Name(), "tidemark.store ")
		if !ok {
			t.Errorf("span %q", s.Name())
			continue
		}
		attrs := attribute.NewSet(s.Attributes()...)
		get := func(k string) string { v, _ := attrs.Value(attribute.Key(k)); return v.AsString() }
		if get("tidemark.provider") != provider || get("tidemark.key") == "" || s.SpanKind() != trace.SpanKindClient {
			t.Errorf("span %s: attributes %v, kind %v", s.Name(), s.Attributes(), s.SpanKind())
		}
		res := get("tidemark.result")
		if (s.Status().Code == codes.Error) != (res == "error") {
			t.Errorf("span %s: status %v with result %s", s.Name(), s.Status(), res)
		}
		got[[2]string{op, res}]++
	}
	compare(t, "spans", got, counted())
}

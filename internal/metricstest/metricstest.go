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

// MeterProvider returns an SDK MeterProvider read by the returned
// ManualReader, shut down when the test ends.
func MeterProvider(tb testing.TB) (*sdkmetric.ManualReader, *sdkmetric.MeterProvider) {
	tb.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tb.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	return reader, mp
}

// Requests reads tidemark.store.requests from r: count per operation and
// result, for provider.
func Requests(ctx context.Context, tb testing.TB, r *sdkmetric.ManualReader, provider string) map[[2]string]int64 {
	tb.Helper()
	out := map[[2]string]int64{}
	eachPoint(ctx, tb, r, "tidemark.store.requests", func(get func(string) string, v int64) {
		if p := get("tidemark.provider"); p != provider {
			tb.Errorf("tidemark.provider %q, want %q", p, provider)
		}
		out[[2]string{get("tidemark.operation"), get("tidemark.result")}] += v
	})
	return out
}

// eachPoint collects r and calls f with each data point of the monotonic
// int64 counter name: a getter of its attributes' values, and its value.
func eachPoint(ctx context.Context, tb testing.TB, r *sdkmetric.ManualReader, name string, f func(get func(string) string, v int64)) {
	tb.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(ctx, &rm); err != nil {
		tb.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok || !sum.IsMonotonic {
				tb.Fatalf("%s is %T, want a monotonic int64 sum", name, m.Data)
			}
			for _, dp := range sum.DataPoints {
				f(func(k string) string { v, _ := dp.Attributes.Value(attribute.Key(k)); return v.AsString() }, dp.Value)
			}
		}
	}
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
	zombieCheckpoint(ctx, t, a, b, "1")
}

// zombieCheckpoint has a acquire id, b steal it, and a checkpoint it as a
// zombie: a conditional write the store refuses.
func zombieCheckpoint(ctx context.Context, t *testing.T, a, b *blobstore.Store, id string) {
	t.Helper()
	z, err := a.Acquire(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Steal(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := a.UpdateCheckpoint(ctx, z, blobstore.Checkpoint{PartitionID: id, Offset: "1", SequenceNumber: 1}); !errors.Is(err, blobstore.ErrLeaseLost) {
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
	reader, mp := MeterProvider(t)
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

// errLost is the injected failure of a write: no answer, so the Store
// cannot tell whether it was applied.
var errLost = errors.New("metricstest: injected: the response was lost")

// fault is what faulty does to one Put of its key: apply it or not,
// run before (another host's write) first, and fail the read-back after.
type fault struct {
	apply, failReadBack bool
	before              func()
}

// faulty injects faults into the Puts of one key; a fault is only for
// injecting what an emulator cannot be made to do on cue.
type faulty struct {
	driver.Bucket
	key string
	mu  sync.Mutex
	arm []fault
	bad bool // fail the next Get of key
}

func (f *faulty) inject(ft fault) {
	f.mu.Lock()
	f.arm = append(f.arm, ft)
	f.mu.Unlock()
}

func (f *faulty) Put(ctx context.Context, key string, data []byte, v string) (string, error) {
	f.mu.Lock()
	if key != f.key || len(f.arm) == 0 {
		f.mu.Unlock()
		return f.Bucket.Put(ctx, key, data, v)
	}
	ft := f.arm[0]
	f.arm = f.arm[1:]
	f.bad = ft.failReadBack
	f.mu.Unlock()
	if ft.before != nil {
		ft.before()
	}
	if ft.apply {
		if _, err := f.Bucket.Put(ctx, key, data, v); err != nil {
			return "", err
		}
	}
	return "", errLost
}

func (f *faulty) Get(ctx context.Context, key string) (driver.Object, error) {
	f.mu.Lock()
	bad := key == f.key && f.bad
	f.bad = f.bad && !bad
	f.mu.Unlock()
	if bad {
		return driver.Object{}, errLost
	}
	return f.Bucket.Get(ctx, key)
}

// Counts reads every data point of the int64 counter name from r: its
// value per value of the attribute attr ("" for the counter without it).
func Counts(ctx context.Context, tb testing.TB, r *sdkmetric.ManualReader, name, attr string) map[string]int64 {
	tb.Helper()
	out := map[string]int64{}
	eachPoint(ctx, tb, r, name, func(get func(string) string, v int64) { out[get(attr)] += v })
	return out
}

// CheckStoreOutcomes checks the Store's counters of what its requests
// meant: conflicts, uncertain writes by resolution, corrupt records by
// kind. Faults are injected into one host's writes of one record (an
// applied write whose response is lost; one not applied; one applied whose
// read-back fails; one not applied while another host takes the lease);
// the other requests, and the garbage records read, are real.
func CheckStoreOutcomes(t *testing.T, provider string, open func(ctx context.Context) (driver.Bucket, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reader, mp := MeterProvider(t)
	prefix := fmt.Sprintf("outcomes-%d/", time.Now().UnixNano())
	raw, err := open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = raw.Close() }()
	var f *faulty
	store := func(owner, prefix string, inject bool) *blobstore.Store {
		bkt, err := open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if inject {
			f = &faulty{Bucket: bkt, key: prefix + "2.json"}
			bkt = f
		}
		s, err := blobstore.New(bkt, &blobstore.Options{Prefix: prefix, Owner: owner, Provider: provider, MeterProvider: mp})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b := store("a", prefix, true), store("b", prefix, false)
	if err := a.CreateStoreIfNotExists(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"2", "3"} {
		if _, err := a.CreateLeaseIfNotExists(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	l, err := a.Acquire(ctx, "2")
	if err != nil {
		t.Fatal(err)
	}
	checkpoint := func(seq int64) error {
		return a.UpdateCheckpoint(ctx, l, blobstore.Checkpoint{PartitionID: "2", Offset: fmt.Sprint(seq), SequenceNumber: seq})
	}
	f.inject(fault{apply: true}) // landed: the read-back finds it
	if err := checkpoint(1); err != nil {
		t.Fatalf("checkpoint whose response was lost: %v", err)
	}
	f.inject(fault{}) // rewritten: not applied, sent again
	if err := checkpoint(2); err != nil {
		t.Fatalf("checkpoint that was not applied: %v", err)
	}
	f.inject(fault{apply: true, failReadBack: true}) // unknown
	if err := checkpoint(3); !errors.Is(err, blobstore.ErrOutcomeUnknown) {
		t.Fatalf("checkpoint whose read-back failed: %v, want ErrOutcomeUnknown", err)
	}
	f.inject(fault{before: func() { // refused: b took the lease meanwhile
		if _, err := b.Steal(ctx, "2"); err != nil {
			t.Errorf("steal during the write: %v", err)
		}
	}})
	if err := checkpoint(4); !errors.Is(err, blobstore.ErrLeaseLost) {
		t.Fatalf("checkpoint raced by a steal: %v, want ErrLeaseLost", err)
	}
	zombieCheckpoint(ctx, t, a, b, "3") // a plain conflict: a stale owner's write
	// Garbage where a partition, a host and a store marker should be.
	for _, key := range []string{prefix + "4.json", prefix + ".hosts/ghost/1.json", prefix + "bad/tidemark-store"} {
		if _, err := raw.Put(ctx, key, []byte("not json"), driver.CreateOnly); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := b.GetCheckpoint(ctx, "4"); !errors.Is(err, blobstore.ErrCorrupt) {
		t.Fatalf("reading garbage: %v, want ErrCorrupt", err)
	}
	if _, corrupt, err := a.ListLeasesSkippingCorrupt(ctx); err != nil || len(corrupt) != 1 {
		t.Fatalf("listing: %v corrupt, %v", corrupt, err)
	}
	if _, err := b.ListHosts(ctx); !errors.Is(err, blobstore.ErrCorrupt) {
		t.Fatalf("listing hosts: %v, want ErrCorrupt", err)
	}
	if _, err := store("c", prefix+"bad/", false).StoreExists(ctx); !errors.Is(err, blobstore.ErrCorrupt) {
		t.Fatalf("a garbage store marker: %v, want ErrCorrupt", err)
	}
	for _, c := range []struct {
		name, attr string
		want       map[string]int64
	}{
		{"tidemark.store.conflicts", "", map[string]int64{"": 2}},
		{"tidemark.store.uncertain_writes", "tidemark.resolution", map[string]int64{"landed": 1, "rewritten": 1, "unknown": 1, "refused": 1}},
		{"tidemark.store.corrupt_records", "tidemark.record", map[string]int64{"partition": 2, "host": 1, "marker": 1}},
	} {
		got := Counts(ctx, t, reader, c.name, c.attr)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s by %q: %v, want %v", c.name, c.attr, got, c.want)
		}
	}
	if got := Counts(ctx, t, reader, "tidemark.store.conflicts", "tidemark.provider"); got[provider] != 2 {
		t.Errorf("conflicts by provider: %v, want %s: 2", got, provider)
	}
}

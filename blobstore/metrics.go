package blobstore

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// Metrics, recorded through Options.MeterProvider (OpenTelemetry), named
// and measured after OpenTelemetry's conventions:
//
//	tidemark.store.requests          counter, {request}: every storage request
//	                                 (a listing page is one), by
//	                                 tidemark.operation (get, put, delete,
//	                                 list), tidemark.provider (the URL's
//	                                 scheme) and tidemark.result (ok,
//	                                 precondition_failed, not_found, error)
//	tidemark.store.request.duration  histogram, s: their durations, by the
//	                                 same attributes
//	tidemark.store.conflicts         counter, {write}: record writes refused
//	                                 because another write landed first (a
//	                                 race for a lease, a stale owner's
//	                                 write); a refused request that was the
//	                                 echo of the Store's own earlier write
//	                                 is not one
//	tidemark.store.uncertain_writes  counter, {write}: record writes whose
//	                                 request failed without saying whether
//	                                 it was applied (a lost response, a
//	                                 timeout, a 5xx), by how the Store
//	                                 resolved them (tidemark.resolution):
//	                                 landed (the read-back found the write),
//	                                 rewritten (it had not landed and was
//	                                 sent again successfully), refused
//	                                 (another write had landed instead),
//	                                 unknown (reported as ErrOutcomeUnknown
//	                                 or, failing every retry, ErrUnavailable)
//	tidemark.store.corrupt_records   counter, {record}: reads that met a
//	                                 record the Store could not decode, by
//	                                 tidemark.record (partition, host,
//	                                 marker)
//
// The counters after the first two carry tidemark.provider too.
//
// The attributes take a handful of values each: no key or partition id is
// recorded. Without a MeterProvider the Store records nothing and its
// requests cost what they did without metrics.

// MeterName is the instrumentation scope of Tidemark's metrics.
const MeterName = "github.com/tidemark/tidemark"

var (
	metricOps     = []string{"get", "put", "delete", "list"}
	metricResults = []string{"ok", "precondition_failed", "not_found", "error"}
)

// storeMetrics are the counters the Store records itself: what its
// requests meant, beyond what each request returned. A nil *storeMetrics
// records nothing.
type storeMetrics struct {
	conflicts, uncertain, corrupt metric.Int64Counter
	provider                      metric.MeasurementOption
	resolutions                   [4]metric.MeasurementOption // by resolution
	records                       [3]metric.MeasurementOption // by recordKind
}

// How an uncertain write was resolved.
const (
	resolvedLanded = iota
	resolvedRewritten
	resolvedRefused
	resolvedUnknown
)

// The kinds of record a corrupt one may be.
const (
	recordPartition = iota
	recordHost
	recordMarker
)

func newStoreMetrics(mp metric.MeterProvider, provider string) (*storeMetrics, error) {
	m := mp.Meter(MeterName)
	var err error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, e := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		err = errors.Join(err, e)
		return c
	}
	sm := &storeMetrics{
		conflicts: counter("tidemark.store.conflicts", "{write}", "Record writes refused because another write landed first."),
		uncertain: counter("tidemark.store.uncertain_writes", "{write}",
			"Record writes whose request failed without saying whether it was applied, by how the Store resolved them."),
		corrupt: counter("tidemark.store.corrupt_records", "{record}", "Reads that met a record the Store could not decode."),
	}
	if err != nil {
		return nil, err
	}
	p := attribute.String("tidemark.provider", provider)
	sm.provider = metric.WithAttributeSet(attribute.NewSet(p))
	for i, r := range []string{"landed", "rewritten", "refused", "unknown"} {
		sm.resolutions[i] = metric.WithAttributeSet(attribute.NewSet(p, attribute.String("tidemark.resolution", r)))
	}
	for i, r := range []string{"partition", "host", "marker"} {
		sm.records[i] = metric.WithAttributeSet(attribute.NewSet(p, attribute.String("tidemark.record", r)))
	}
	return sm, nil
}

// committed counts a commit that ended in err: a refusal is a conflict;
// an uncertain write is counted by how it was resolved.
func (m *storeMetrics) committed(ctx context.Context, uncertain, landed bool, err error) {
	var refused *errWriteRefused
	isRefused := errors.As(err, &refused)
	if isRefused {
		m.conflicts.Add(ctx, 1, m.provider)
	}
	if !uncertain {
		return
	}
	how := resolvedUnknown
	switch {
	case err == nil && landed:
		how = resolvedLanded
	case err == nil:
		how = resolvedRewritten
	case isRefused:
		how = resolvedRefused
	}
	m.uncertain.Add(ctx, 1, m.resolutions[how])
}

// corruptIn counts err if it reports a corrupt record of the kind, and
// returns it.
func (m *storeMetrics) corruptIn(ctx context.Context, kind int, err error) error {
	var c *CorruptRecordError
	if m != nil && errors.As(err, &c) {
		m.corrupt.Add(ctx, 1, m.records[kind])
	}
	return err
}

// meteredBucket records every request of the bucket it wraps.
type meteredBucket struct {
	driver.Bucket
	requests metric.Int64Counter
	duration metric.Float64Histogram
	// attrs holds the attribute set of each operation and result, built
	// once: recording allocates nothing.
	attrs [4][4]metric.MeasurementOption
}

func meter(bkt driver.Bucket, mp metric.MeterProvider, provider string) (driver.Bucket, error) {
	m := mp.Meter(MeterName)
	requests, err := m.Int64Counter("tidemark.store.requests", metric.WithUnit("{request}"),
		metric.WithDescription("Storage requests made by the Store (a listing page is one)."))
	if err != nil {
		return nil, err
	}
	duration, err := m.Float64Histogram("tidemark.store.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the Store's storage requests."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err != nil {
		return nil, err
	}
	b := &meteredBucket{Bucket: bkt, requests: requests, duration: duration}
	for i, op := range metricOps {
		for j, res := range metricResults {
			b.attrs[i][j] = metric.WithAttributeSet(attribute.NewSet(
				attribute.String("tidemark.operation", op),
				attribute.String("tidemark.provider", provider),
				attribute.String("tidemark.result", res)))
		}
	}
	return b, nil
}

func resultIndex(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, driver.ErrPrecondition), errors.Is(err, driver.ErrRetriedPrecondition):
		return 1
	case errors.Is(err, driver.ErrNotFound):
		return 2
	}
	return 3
}

func (b *meteredBucket) record(ctx context.Context, op int, start time.Time, err error) {
	a := b.attrs[op][resultIndex(err)]
	b.requests.Add(ctx, 1, a)
	b.duration.Record(ctx, time.Since(start).Seconds(), a)
}

func (b *meteredBucket) Get(ctx context.Context, key string) (driver.Object, error) {
	start := time.Now()
	o, err := b.Bucket.Get(ctx, key)
	b.record(ctx, 0, start, err)
	return o, err
}

func (b *meteredBucket) Put(ctx context.Context, key string, data []byte, ifVersion string) (string, error) {
	start := time.Now()
	v, err := b.Bucket.Put(ctx, key, data, ifVersion)
	b.record(ctx, 1, start, err)
	return v, err
}

func (b *meteredBucket) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := b.Bucket.Delete(ctx, key)
	b.record(ctx, 2, start, err)
	return err
}

func (b *meteredBucket) List(ctx context.Context, prefix, pageToken string) ([]driver.Entry, string, error) {
	start := time.Now()
	es, next, err := b.Bucket.List(ctx, prefix, pageToken)
	b.record(ctx, 3, start, err)
	return es, next, err
}

// As passes through to the wrapped bucket's provider client.
func (b *meteredBucket) As(target any) bool {
	a, ok := b.Bucket.(driver.Aser)
	return ok && a.As(target)
}

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

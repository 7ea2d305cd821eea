package blobstore

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// Traces, recorded through Options.TracerProvider (OpenTelemetry): one span
// per storage request, named "tidemark.store <operation>" (get, put,
// delete, list), of kind client, with the attributes tidemark.provider,
// tidemark.key (the object key, or the listing's prefix) and
// tidemark.result (as the request metrics); a request that failed for
// another reason than a refused precondition or a missing key has status
// Error. A request made under a span (a host's balancing cycle) is its
// child, so a slow cycle shows which request it waited for.

// tracedBucket records a span around every request of the bucket it wraps.
type tracedBucket struct {
	driver.Bucket
	tracer   trace.Tracer
	provider attribute.KeyValue
	names    [4]string
}

func traced(bkt driver.Bucket, tp trace.TracerProvider, provider string) driver.Bucket {
	b := &tracedBucket{Bucket: bkt, tracer: tp.Tracer(MeterName), provider: attribute.String("tidemark.provider", provider)}
	for i, op := range metricOps {
		b.names[i] = "tidemark.store " + op
	}
	return b
}

func (b *tracedBucket) start(ctx context.Context, op int, key string) (context.Context, trace.Span) {
	return b.tracer.Start(ctx, b.names[op], trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(b.provider, attribute.String("tidemark.key", key)))
}

func endSpan(span trace.Span, err error) {
	res := resultIndex(err)
	span.SetAttributes(attribute.String("tidemark.result", metricResults[res]))
	if res == 3 {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

func (b *tracedBucket) Get(ctx context.Context, key string) (driver.Object, error) {
	ctx, span := b.start(ctx, 0, key)
	o, err := b.Bucket.Get(ctx, key)
	endSpan(span, err)
	return o, err
}

func (b *tracedBucket) Put(ctx context.Context, key string, data []byte, ifVersion string) (string, error) {
	ctx, span := b.start(ctx, 1, key)
	v, err := b.Bucket.Put(ctx, key, data, ifVersion)
	endSpan(span, err)
	return v, err
}

func (b *tracedBucket) Delete(ctx context.Context, key string) error {
	ctx, span := b.start(ctx, 2, key)
	err := b.Bucket.Delete(ctx, key)
	endSpan(span, err)
	return err
}

func (b *tracedBucket) List(ctx context.Context, prefix, pageToken string) ([]driver.Entry, string, error) {
	ctx, span := b.start(ctx, 3, prefix)
	es, next, err := b.Bucket.List(ctx, prefix, pageToken)
	endSpan(span, err)
	return es, next, err
}

// As passes through to the wrapped bucket's provider client.
func (b *tracedBucket) As(target any) bool {
	a, ok := b.Bucket.(driver.Aser)
	return ok && a.As(target)
}

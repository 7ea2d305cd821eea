package processor

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tidemark/tidemark/blobstore"
)

// A Host's OpenTelemetry metrics, recorded through Options.MeterProvider,
// each with the attribute tidemark.host (the host's name):
//
//	tidemark.host.partitions.owned  gauge, {partition}: partitions processed now
//	tidemark.host.acquisitions      counter, {partition}: leases taken, by
//	                                tidemark.kind (claim: free or expired;
//	                                steal: taken from a live host to balance)
//	tidemark.host.handovers         counter, {partition}: partitions handed
//	                                over gracefully to balance the group
//	tidemark.host.losses            counter, {partition}: leases lost, by
//	                                tidemark.cause: taken (another host
//	                                holds the record now), fenced (an
//	                                operator's forced edit, release or rm
//	                                freed or removed it), lapsed (not
//	                                renewed within the lease duration),
//	                                not_held (superseded by this host's own
//	                                newer acquisition), corrupt (the record
//	                                turned unreadable), write_failed (the
//	                                final checkpoint of a handover could not
//	                                be written)
//	tidemark.host.checkpoints       counter, {checkpoint}: checkpoints written
//	tidemark.host.checkpoint.duration histogram, s: their write times
//	tidemark.host.events            counter, {event}: events given to Process
//	tidemark.host.lag               gauge, s: how far behind its partitions'
//	                                newest events the host is (LagReporter):
//	                                the largest lag, or one point per
//	                                partition (tidemark.partition) with
//	                                Options.MetricsPartitionIDs
//
// Without a MeterProvider nothing is recorded, at no cost.

// errLapsed is the cause of a stop by rule 5: not written within the lease
// duration.
var errLapsed = errors.New("processor: not renewed within the lease duration")

// lossCauses are the values of tidemark.cause.
var lossCauses = []string{"taken", "fenced", "lapsed", "not_held", "corrupt", "write_failed"}

// lossCause names the cause of a stop that lost the lease.
func lossCause(cause error) string {
	var lost *blobstore.LeaseLostError
	switch {
	case errors.Is(cause, errLapsed):
		return "lapsed"
	case errors.As(cause, &lost):
		return string(lost.Cause)
	case errors.Is(cause, blobstore.ErrCorrupt):
		return "corrupt"
	case errors.Is(cause, blobstore.ErrLeaseLost):
		return "taken"
	}
	return "write_failed"
}

type hostMetrics struct {
	claim, steal, host              metric.MeasurementOption
	causes                          map[string]metric.MeasurementOption
	acquisitions, handovers, losses metric.Int64Counter
	checkpoints, events             metric.Int64Counter
	checkpointDur                   metric.Float64Histogram
	reg                             metric.Registration
}

func newHostMetrics(h *Host, mp metric.MeterProvider, perPartition bool) (*hostMetrics, error) {
	m := mp.Meter(blobstore.MeterName)
	name := attribute.String("tidemark.host", h.Name())
	with := func(kv ...attribute.KeyValue) metric.MeasurementOption {
		return metric.WithAttributeSet(attribute.NewSet(append(kv, name)...))
	}
	hm := &hostMetrics{
		claim: with(attribute.String("tidemark.kind", "claim")), steal: with(attribute.String("tidemark.kind", "steal")),
		host: with(), causes: map[string]metric.MeasurementOption{},
	}
	for _, c := range lossCauses {
		hm.causes[c] = with(attribute.String("tidemark.cause", c))
	}
	var err error
	counter := func(n, unit, desc string) metric.Int64Counter {
		c, e := m.Int64Counter(n, metric.WithUnit(unit), metric.WithDescription(desc))
		err = errors.Join(err, e)
		return c
	}
	hm.acquisitions = counter("tidemark.host.acquisitions", "{partition}", "Leases the host took, by kind (claim, steal).")
	hm.handovers = counter("tidemark.host.handovers", "{partition}", "Partitions the host handed over gracefully to balance the group.")
	hm.losses = counter("tidemark.host.losses", "{partition}", "Leases the host lost, by cause (taken, fenced, lapsed, not_held, corrupt, write_failed).")
	hm.checkpoints = counter("tidemark.host.checkpoints", "{checkpoint}", "Checkpoints the host wrote.")
	hm.events = counter("tidemark.host.events", "{event}", "Events the host gave to its processors.")
	hm.checkpointDur, err = m.Float64Histogram("tidemark.host.checkpoint.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of the host's checkpoint writes."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err != nil {
		return nil, err
	}
	owned, err := m.Int64ObservableGauge("tidemark.host.partitions.owned", metric.WithUnit("{partition}"),
		metric.WithDescription("Partitions the host is processing."))
	if err != nil {
		return nil, err
	}
	lag, err := m.Float64ObservableGauge("tidemark.host.lag", metric.WithUnit("s"),
		metric.WithDescription("How far behind its partitions' newest events the host is."))
	if err != nil {
		return nil, err
	}
	hm.reg, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(owned, int64(len(h.Owned())), hm.host)
		lags := h.Lag()
		if perPartition {
			for id, d := range lags {
				o.ObserveFloat64(lag, d.Seconds(), metric.WithAttributes(name, attribute.String("tidemark.partition", id)))
			}
		} else if len(lags) > 0 {
			var most time.Duration
			for _, d := range lags {
				most = max(most, d)
			}
			o.ObserveFloat64(lag, most.Seconds(), hm.host)
		}
		return nil
	}, owned, lag)
	if err != nil {
		return nil, err
	}
	return hm, nil
}

// The recorders below do nothing on a nil *hostMetrics (no provider).

func (m *hostMetrics) acquired(steal bool) {
	if m == nil {
		return
	}
	kind := m.claim
	if steal {
		kind = m.steal
	}
	m.acquisitions.Add(context.Background(), 1, kind)
}

func (m *hostMetrics) handedOver() {
	if m != nil {
		m.handovers.Add(context.Background(), 1, m.host)
	}
}

func (m *hostMetrics) lost(cause error) {
	if m == nil {
		return
	}
	m.losses.Add(context.Background(), 1, m.causes[lossCause(cause)])
}

func (m *hostMetrics) checkpointed(took time.Duration) {
	if m != nil {
		m.checkpoints.Add(context.Background(), 1, m.host)
		m.checkpointDur.Record(context.Background(), took.Seconds(), m.host)
	}
}

func (m *hostMetrics) processed(n int) {
	if m != nil {
		m.events.Add(context.Background(), int64(n), m.host)
	}
}

func (m *hostMetrics) close() {
	if m != nil {
		_ = m.reg.Unregister()
	}
}

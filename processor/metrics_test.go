package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/membucket"
	"github.com/tidemark/tidemark/internal/clocktest"
	"github.com/tidemark/tidemark/internal/metricstest"
)

// readMetrics collects r and returns each data point's value by metric name
// and sorted attributes ("name{k=v,...}").
func readMetrics(t *testing.T, r *sdkmetric.ManualReader) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			add := func(set attribute.Set, v float64) {
				var attrs []string
				for _, kv := range set.ToSlice() {
					attrs = append(attrs, string(kv.Key)+"="+kv.Value.AsString())
				}
				sort.Strings(attrs)
				out[m.Name+"{"+strings.Join(attrs, ",")+"}"] += v
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, dp := range d.DataPoints {
					add(dp.Attributes, float64(dp.Value))
				}
			case metricdata.Gauge[int64]:
				for _, dp := range d.DataPoints {
					add(dp.Attributes, float64(dp.Value))
				}
			case metricdata.Gauge[float64]:
				for _, dp := range d.DataPoints {
					add(dp.Attributes, dp.Value)
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					add(dp.Attributes, float64(dp.Count))
				}
			}
		}
	}
	return out
}

// A steal, a loss and a handover each move their counter once, on the
// hosts they happen to; owned partitions, checkpoints and events match
// what the hosts did.
func TestHostMetrics(t *testing.T) {
	reader, mp := metricstest.MeterProvider(t)
	g := newGroup(t, 4)
	g.opts.MeterProvider = mp
	a := g.add("a", 0)
	g.settle(5)
	// b joins while a is stuck (runs no cycle): b steals one partition in
	// its third cycle, the first in which it may.
	b := g.add("b", 0)
	for range 3 {
		g.advance(time.Second)
		b.h.cycle(g.ctx)
		waitHandovers(b.h)
	}
	if n := b.h.Stats().Steals; n != 1 {
		t.Fatalf("b stole %d partitions, want 1", n)
	}
	// a sees the loss, then sheds one to b, which claims it.
	g.settle(5)
	for _, id := range []string{"0", "1", "2", "3"} {
		g.appendAndWait(id, 2)
	}
	got := readMetrics(t, reader)
	want := map[string]float64{
		"tidemark.host.acquisitions{tidemark.host=a,tidemark.kind=claim}": 4,
		"tidemark.host.acquisitions{tidemark.host=b,tidemark.kind=steal}": 1,
		"tidemark.host.acquisitions{tidemark.host=b,tidemark.kind=claim}": 1,
		"tidemark.host.losses{tidemark.cause=taken,tidemark.host=a}":      1,
		"tidemark.host.handovers{tidemark.host=a}":                        1,
		"tidemark.host.partitions.owned{tidemark.host=a}":                 2,
		"tidemark.host.partitions.owned{tidemark.host=b}":                 2,
		"tidemark.host.checkpoints{tidemark.host=a}":                      float64(a.h.Stats().Checkpoints),
		"tidemark.host.checkpoints{tidemark.host=b}":                      float64(b.h.Stats().Checkpoints),
		"tidemark.host.checkpoint.duration{tidemark.host=a}":              float64(a.h.Stats().Checkpoints),
		"tidemark.host.checkpoint.duration{tidemark.host=b}":              float64(b.h.Stats().Checkpoints),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if events := got["tidemark.host.events{tidemark.host=a}"] + got["tidemark.host.events{tidemark.host=b}"]; events != 8 {
		t.Errorf("%v events recorded, 8 processed", events)
	}
	for k, v := range got {
		if strings.HasPrefix(k, "tidemark.host.") && !strings.HasPrefix(k, "tidemark.host.events") && !strings.HasPrefix(k, "tidemark.host.lag") {
			if _, ok := want[k]; !ok && v != 0 {
				t.Errorf("unexpected %s = %v", k, v)
			}
		}
	}
	// The memory source reports its lag: the host's largest, caught up.
	if lag, ok := got["tidemark.host.lag{tidemark.host=a}"]; !ok || lag != 0 {
		t.Errorf("lag of host a: %v (recorded: %v)", lag, ok)
	}
}

// A balancing cycle is one span, and the store requests it makes (its
// listing, its claims) are its children; a worker's requests are not.
func TestCycleSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	g := newGroup(t, 4)
	g.opts.TracerProvider = tp
	clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := blobstore.Open(g.ctx, "mem://"+g.ns, &blobstore.Options{Owner: "a",
		LeaseDuration: testLease, RenewInterval: testRenew, Clock: clock, TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	m := g.join("a", s, clock)
	before := len(rec.Ended())
	m.h.balance(g.ctx)
	waitHandovers(m.h)
	var cycle sdktrace.ReadOnlySpan
	children := map[string]int{}
	for _, sp := range rec.Ended()[before:] {
		if sp.Name() == "tidemark.host.cycle" {
			if cycle != nil {
				t.Fatal("two cycle spans for one cycle")
			}
			cycle = sp
		}
	}
	if cycle == nil {
		t.Fatal("no cycle span")
	}
	for _, sp := range rec.Ended()[before:] {
		if sp.Parent().SpanID() == cycle.SpanContext().SpanID() {
			children[sp.Name()]++
		}
	}
	if children["tidemark.store list"] == 0 || children["tidemark.store put"] < 4 {
		t.Errorf("the cycle's children: %v; want its listing and its 4 claims' writes", children)
	}
	// A checkpoint after the cycle is not part of it.
	g.appendAndWait("0", 1)
	for _, sp := range rec.Ended() {
		if sp.Name() == "tidemark.store put" && sp.Parent().SpanID() == cycle.SpanContext().SpanID() && sp.EndTime().After(cycle.EndTime()) {
			t.Errorf("a write after the cycle ended is its child: %v", sp.Attributes())
		}
	}
}

// joinWithOutage starts a host whose store's writes fail while the
// returned flag is set.
func (g *group) joinWithOutage(name string) (*member, *atomic.Bool) {
	g.t.Helper()
	down := &atomic.Bool{}
	clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(g.elapsed))
	s, err := blobstore.New(outage{Bucket: membucket.Open(g.ns), down: down},
		&blobstore.Options{Owner: name, LeaseDuration: testLease, RenewInterval: testRenew, Clock: clock})
	if err != nil {
		g.t.Fatal(err)
	}
	return g.join(name, s, clock), down
}

// outage fails every write while down is set: the store is unreachable.
type outage struct {
	driver.Bucket
	down *atomic.Bool
}

func (b outage) Put(ctx context.Context, key string, data []byte, v string) (string, error) {
	if b.down.Load() {
		return "", errors.New("test: store unreachable")
	}
	return b.Bucket.Put(ctx, key, data, v)
}

// An operator's forced release and a lapse (the store unreachable for
// longer than the lease duration) each count as a loss of their own
// cause, once per partition.
func TestLossCauses(t *testing.T) {
	reader, mp := metricstest.MeterProvider(t)
	g := newGroup(t, 2)
	g.opts.MeterProvider = mp
	a, down := g.joinWithOutage("a")
	g.settle(3)
	op, err := blobstore.Open(g.ctx, "mem://"+g.ns, &blobstore.Options{Owner: "operator"})
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	if _, err := op.ForceRelease(g.ctx, "0"); err != nil {
		t.Fatal(err)
	}
	g.advance(testRenew)
	g.round()
	g.settle(3) // a takes it back
	losses := func() map[string]float64 {
		out := map[string]float64{}
		for k, v := range readMetrics(t, reader) {
			if strings.HasPrefix(k, "tidemark.host.losses") && v != 0 {
				out[k] = v
			}
		}
		return out
	}
	if got, want := fmt.Sprint(losses()), fmt.Sprint(map[string]float64{"tidemark.host.losses{tidemark.cause=fenced,tidemark.host=a}": 1}); got != want {
		t.Fatalf("after a forced release: %s, want %s", got, want)
	}
	down.Store(true)
	for range 4 {
		g.advance(testRenew)
		g.round()
	}
	if n := len(a.h.Owned()); n != 0 {
		t.Fatalf("a still processes %d partitions after its leases lapsed", n)
	}
	want := map[string]float64{
		"tidemark.host.losses{tidemark.cause=fenced,tidemark.host=a}": 1,
		"tidemark.host.losses{tidemark.cause=lapsed,tidemark.host=a}": 2,
	}
	if got := losses(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after a lapse: %v, want %v", got, want)
	}
	if st := a.h.Stats(); st.Lost != 3 {
		t.Errorf("Stats().Lost = %d, want 3", st.Lost)
	}
}

// A store outage warns once a minute, not once a cycle: the heartbeat that
// fails every cycle is logged the first time and then a minute later with
// the number dropped in between; the keys are the documented ones.
func TestRepeatedWarningsAreRateLimited(t *testing.T) {
	var buf syncBuffer
	g := newGroup(t, 2)
	g.opts.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	_, down := g.joinWithOutage("a")
	g.settle(3)
	down.Store(true)
	heartbeats := func() (lines []map[string]any) {
		for _, l := range strings.Split(buf.String(), "\n") {
			m := map[string]any{}
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "heartbeat failed" {
				lines = append(lines, m)
			}
		}
		return lines
	}
	for range 6 { // 10 s apart: the first and five more within a minute
		g.advance(testRenew)
		g.round()
	}
	got := heartbeats()
	if len(got) != 1 || got[0]["host"] != "a" || got[0]["level"] != "WARN" || got[0]["err"] == nil || got[0]["repeated"] != nil {
		t.Fatalf("six failed heartbeats within a minute logged %d times: %v", len(got), got)
	}
	g.advance(testRenew)
	g.round()
	if got = heartbeats(); len(got) != 2 || got[1]["repeated"] != float64(5) {
		t.Fatalf("a minute after the first: %v, want a second line with repeated 5", got)
	}
}

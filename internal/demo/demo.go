// Package demo runs Tidemark's demonstration: a consumer group of several
// hosts sharing a stream's partitions through a checkpoint store, with one host
// killed and one stopped gracefully along the way, an observer that checks
// the invariants the whole time, and a summary of what was measured.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/processor"
)

// Config sets up a demo run. Zero fields take the defaults.
type Config struct {
	StoreURL      string        // default: a file store in a new temporary folder
	Hosts         int           // default 4; at least 3 (one is killed, one stopped)
	Partitions    int           // default 32
	Duration      time.Duration // default 30s (at least 8 lease durations)
	EventsPerSec  int           // default 400, spread over the partitions
	LeaseDuration time.Duration // default 3s
	RenewInterval time.Duration // default 1s
	Out           io.Writer     // default os.Stdout
	Live          bool          // redraw the ownership view in place (a terminal)
	// Source is the stream: "memory" (the default, in-process) or
	// "kinesis": a stream of Partitions shards that the demo creates at
	// KinesisEndpoint (kinesalite, LocalStack; empty for AWS itself),
	// produces to, and deletes at the end.
	Source          string
	KinesisEndpoint string
	// MetricsAddr, when set, serves the group's OpenTelemetry metrics (every
	// host's and store's) in the Prometheus text format on
	// http://MetricsAddr/metrics while the demo runs.
	MetricsAddr string
	// Logger receives the hosts' and stores' logs (processor's # Logs);
	// default: discarded.
	Logger *slog.Logger
}

// Validate reports whether Run would accept c (with its defaults applied),
// without running anything. Its error wraps blobstore.ErrInvalidArgument and
// names the field at fault.
func (c Config) Validate() error { return c.defaults() }

func (c *Config) defaults() error {
	if c.Hosts == 0 {
		c.Hosts = 4
	}
	if c.Partitions == 0 {
		c.Partitions = 32
	}
	if c.Duration == 0 {
		c.Duration = 30 * time.Second
	}
	if c.EventsPerSec == 0 {
		c.EventsPerSec = 400
	}
	if c.LeaseDuration == 0 {
		c.LeaseDuration = 3 * time.Second
	}
	if c.RenewInterval == 0 {
		c.RenewInterval = time.Second
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	switch {
	case c.Hosts < 3 || c.Hosts > 25:
		return fmt.Errorf("%w: hosts must be 3 to 25 (one is killed, one stopped, and one more joins), got %d", blobstore.ErrInvalidArgument, c.Hosts)
	case c.Partitions < 1 || c.Partitions > 1024:
		return fmt.Errorf("%w: partitions must be 1 to 1024, got %d", blobstore.ErrInvalidArgument, c.Partitions)
	case c.LeaseDuration < 0 || c.RenewInterval < 0:
		return fmt.Errorf("%w: the lease duration (%v) and renew interval (%v) must be positive",
			blobstore.ErrInvalidArgument, c.LeaseDuration, c.RenewInterval)
	case 3*c.RenewInterval > c.LeaseDuration:
		// A host balances every renew interval, a renewal may start a renew
		// interval after that and take one more: all of it must fit in a
		// lease (processor.New's rule), or healthy leases lapse.
		return fmt.Errorf("%w: the renew interval %v must be at most a third of the lease duration %v",
			blobstore.ErrInvalidArgument, c.RenewInterval, c.LeaseDuration)
	case c.Duration < 8*c.LeaseDuration:
		return fmt.Errorf("%w: duration %v is too short for a lease of %v: give it at least %v",
			blobstore.ErrInvalidArgument, c.Duration, c.LeaseDuration, 8*c.LeaseDuration)
	case c.EventsPerSec < 1:
		return fmt.Errorf("%w: events per second must be positive", blobstore.ErrInvalidArgument)
	case c.Source != "" && c.Source != "memory" && c.Source != "kinesis":
		return fmt.Errorf("%w: source %q: want memory or kinesis", blobstore.ErrInvalidArgument, c.Source)
	case c.Source != "kinesis" && c.KinesisEndpoint != "":
		return fmt.Errorf("%w: a Kinesis endpoint needs --source kinesis", blobstore.ErrInvalidArgument)
	}
	return nil
}

// Summary is what a run measured.
type Summary struct {
	StoreURL        string
	Hosts           int
	Partitions      int
	Produced        int64
	Processed       int64 // processing calls, duplicates included
	Duplicates      int64 // events processed more than once
	Missed          int64 // events never processed
	Failover        time.Duration
	FailoverBound   time.Duration
	Handoff         time.Duration
	HandoffBound    time.Duration
	Balance         map[string]int // partitions per surviving host at the end
	Steals, Shed    int64
	Checkpoints     int64
	Violations      []string
	KilledHost      string
	StoppedHost     string
	FailoverMissing bool // the killed host's partitions were not all taken over
	HandoffMissing  bool
}

// pollSlack is how late the observer can see a takeover: its polling period
// plus a listing.
const pollSlack = 250 * time.Millisecond

// FailoverOK reports whether the killed host's partitions were taken over
// within the bound.
func (s Summary) FailoverOK() bool {
	return !s.FailoverMissing && s.Failover <= s.FailoverBound+pollSlack
}

// HandoffOK reports whether the stopped host's partitions were taken over
// within the bound.
func (s Summary) HandoffOK() bool { return !s.HandoffMissing && s.Handoff <= s.HandoffBound+pollSlack }

// OK reports whether every invariant held and every bound was met.
func (s Summary) OK() bool {
	return len(s.Violations) == 0 && s.Missed == 0 && s.FailoverOK() && s.HandoffOK()
}

// Run runs the demo and writes its live view and summary to cfg.Out.
func Run(ctx context.Context, cfg Config) (Summary, error) {
	if err := cfg.defaults(); err != nil {
		return Summary{}, err
	}
	if cfg.StoreURL == "" {
		dir, err := os.MkdirTemp("", "tidemark-demo-")
		if err != nil {
			return Summary{}, err
		}
		defer os.RemoveAll(dir)
		cfg.StoreURL = "file://" + dir
	}
	var src stream = newMemStream(cfg.Partitions)
	if cfg.Source == "kinesis" {
		ks, err := newKinesisStream(ctx, cfg.KinesisEndpoint, cfg.Partitions, cfg.Logger)
		if err != nil {
			return Summary{}, err
		}
		src = ks
	}
	defer src.close()
	r := &run{cfg: cfg, src: src, log: newLedger(), started: time.Now()}
	if cfg.MetricsAddr != "" {
		m, err := serveMetrics(cfg.MetricsAddr)
		if err != nil {
			return Summary{}, err
		}
		defer m.close()
		r.metrics = m
	}
	return r.run(ctx)
}

type run struct {
	cfg     Config
	src     stream
	log     *ledger
	started time.Time

	hosts    []*hostRun
	observer *blobstore.Store
	view     observed
	metrics  *metricsServer // nil unless Config.MetricsAddr
}

type hostRun struct {
	letter string
	host   *processor.Host
	store  *blobstore.Store
	cancel context.CancelCauseFunc
	done   chan error
	state  string // "running", "killed", "stopped"
}

func (r *run) openStore(ctx context.Context, owner string) (*blobstore.Store, error) {
	o := &blobstore.Options{Owner: owner, LeaseDuration: r.cfg.LeaseDuration, RenewInterval: r.cfg.RenewInterval, Logger: r.cfg.Logger}
	if r.metrics != nil && owner != "observer" {
		o.MeterProvider = r.metrics.provider
	}
	return blobstore.Open(ctx, r.cfg.StoreURL, o)
}

func (r *run) run(ctx context.Context) (Summary, error) {
	cfg := r.cfg
	obs, err := r.openStore(ctx, "observer")
	if err != nil {
		return Summary{}, err
	}
	defer obs.Close()
	r.observer = obs
	if err := obs.CreateStoreIfNotExists(ctx); err != nil {
		return Summary{}, err
	}
	if leases, err := obs.ListLeases(ctx); err != nil {
		return Summary{}, err
	} else if len(leases) > 0 {
		return Summary{}, fmt.Errorf("%w: the store %s already holds %d partitions: give the demo an empty store",
			blobstore.ErrInvalidArgument, redact(cfg.StoreURL), len(leases))
	}
	for i := 0; i < cfg.Hosts; i++ {
		if err := r.startHost(ctx, string(rune('A'+i))); err != nil {
			r.stopAll()
			return Summary{}, err
		}
	}
	defer r.stopAll()

	fmt.Fprintf(cfg.Out, "tidemark demo: %d hosts share %s through %s (lease %v, renew %v, %v)\n",
		cfg.Hosts, r.src.describe(), redact(cfg.StoreURL), cfg.LeaseDuration, cfg.RenewInterval, cfg.Duration)
	if r.metrics != nil {
		fmt.Fprintf(cfg.Out, "metrics: http://%s/metrics (Prometheus text format)\n", r.metrics.addr)
	}
	joiner := string(rune('A' + cfg.Hosts))
	fmt.Fprintf(cfg.Out, "at %v host %s is killed without releasing; at %v host %s joins; at %v host %s stops gracefully\n\n",
		(cfg.Duration / 4).Round(time.Second), r.hosts[len(r.hosts)-1].letter,
		(cfg.Duration / 2).Round(time.Second), joiner,
		(3 * cfg.Duration / 4).Round(time.Second), r.hosts[len(r.hosts)-2].letter)
	killed, stopped := r.hosts[len(r.hosts)-1], r.hosts[len(r.hosts)-2]
	joined := false

	prodCtx, stopProducing := context.WithCancel(ctx)
	var prod sync.WaitGroup
	prod.Go(func() { r.produce(prodCtx) })

	sum := Summary{StoreURL: redact(cfg.StoreURL), Hosts: cfg.Hosts, Partitions: cfg.Partitions,
		FailoverBound: cfg.LeaseDuration + 2*cfg.RenewInterval, HandoffBound: cfg.RenewInterval + cfg.RenewInterval/2}
	// The events are spaced so that each one's effect is measured alone: the
	// newcomer joins only once the failover is complete.
	killAt, joinAt, stopAt := cfg.Duration/4, cfg.Duration/2, 3*cfg.Duration/4
	produceUntil := cfg.Duration * 85 / 100
	var killedSet, stoppedSet []string
	var killedAt, stoppedAt time.Time
	var isKilled, isStopped, failoverDone, handoffDone bool
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	draw := newDrawer(cfg.Out, cfg.Live)
	frame := 0
	for {
		select {
		case <-ctx.Done():
			stopProducing()
			prod.Wait()
			return Summary{}, ctx.Err()
		case <-tick.C:
		}
		elapsed := time.Since(r.started)
		if err := r.poll(ctx); err != nil {
			r.log.violate("observer: %v", err)
		}
		if !isKilled && elapsed >= killAt {
			h := killed
			isKilled = true
			killedSet = r.view.ownedBy(h.store.Owner())
			killedAt = time.Now()
			h.cancel(processor.ErrAbandon)
			if err := <-h.done; err != nil {
				r.log.violate("host %s: %v", h.letter, err)
			}
			h.state = "killed"
			sum.KilledHost = h.letter
		}
		if isKilled && !failoverDone && r.view.allTakenFrom(killedSet, killed.store.Owner()) {
			sum.Failover, failoverDone = time.Since(killedAt), true
		}
		if !joined && elapsed >= joinAt && failoverDone {
			if err := r.startHost(ctx, joiner); err != nil {
				r.log.violate("host %s could not join: %v", joiner, err)
			}
			joined = true
		}
		if !isStopped && elapsed >= stopAt {
			h := stopped
			isStopped = true
			stoppedSet = h.host.Owned()
			stoppedAt = time.Now()
			h.cancel(nil)
			if err := <-h.done; err != nil {
				r.log.violate("host %s: %v", h.letter, err)
			}
			h.state = "stopped"
			sum.StoppedHost = h.letter
		}
		if isStopped && !handoffDone && r.view.allTakenFrom(stoppedSet, stopped.store.Owner()) {
			sum.Handoff, handoffDone = time.Since(stoppedAt), true
		}
		if elapsed >= produceUntil {
			stopProducing()
		}
		if frame++; frame%5 == 0 || elapsed >= cfg.Duration {
			draw.frame(r.render(elapsed))
		}
		if elapsed >= cfg.Duration {
			break
		}
	}
	stopProducing()
	prod.Wait()
	r.drain(ctx, 10*time.Second)
	sum.Balance = map[string]int{}
	for _, h := range r.hosts {
		if h.state == "running" {
			sum.Balance[h.letter] = len(h.host.Owned())
		}
	}
	r.stopAll()
	if err := r.poll(ctx); err != nil {
		r.log.violate("observer: %v", err)
	}
	for _, h := range r.hosts {
		st := h.host.Stats()
		sum.Steals += st.Steals
		sum.Shed += st.Shed
		sum.Checkpoints += st.Checkpoints
	}
	sum.FailoverMissing = !failoverDone
	sum.HandoffMissing = !handoffDone
	r.finalChecks(ctx, &sum)
	return sum, nil
}

func (r *run) startHost(ctx context.Context, letter string) error {
	s, err := r.openStore(ctx, "host-"+letter)
	if err != nil {
		return err
	}
	h, err := processor.New(s, r.src, func(string) processor.Processor {
		return &proc{host: "host-" + letter, log: r.log}
	}, &processor.Options{Checkpoint: processor.CheckpointPolicy{EveryEvents: 20, EveryInterval: 500 * time.Millisecond},
		MeterProvider: r.meterProvider(), Logger: r.cfg.Logger})
	if err != nil {
		s.Close()
		return err
	}
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	hr := &hostRun{letter: letter, host: h, store: s, cancel: cancel, done: make(chan error, 1), state: "running"}
	go func() { hr.done <- h.Run(runCtx) }()
	r.hosts = append(r.hosts, hr)
	return nil
}

// stopAll stops the hosts still running, gracefully, and closes every store.
func (r *run) stopAll() {
	for _, h := range r.hosts {
		if h.state == "running" {
			h.cancel(nil)
			if err := <-h.done; err != nil {
				r.log.violate("host %s: %v", h.letter, err)
			}
			h.state = "stopped"
		}
	}
	for _, h := range r.hosts {
		h.store.Close()
	}
}

// produce appends events round-robin over the partitions at the set rate,
// in batches every 20 ms (one PutRecords call on Kinesis).
func (r *run) produce(ctx context.Context) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	begin := time.Now()
	n := 0
	ids := r.src.ids()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		due := int(time.Since(begin).Seconds() * float64(r.cfg.EventsPerSec))
		if due <= n {
			continue
		}
		to := make([]string, due-n)
		for i := range to {
			to[i] = ids[n%len(ids)]
			n++
		}
		for _, id := range r.src.append(ctx, to) {
			r.log.produced(id)
		}
	}
}

// drain waits until every produced event has been processed, or timeout.
func (r *run) drain(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r.log.missing() == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *run) finalChecks(ctx context.Context, sum *Summary) {
	sum.Produced, sum.Processed, sum.Duplicates, sum.Missed = r.log.totals()
	leases, err := r.observer.ListLeases(ctx)
	if err != nil {
		r.log.violate("final listing: %v", err)
	}
	for _, l := range leases {
		if l.Owner != "" {
			r.log.violate("partition %s still owned by %s after every host stopped", l.PartitionID, l.Owner)
		}
		// Every host still running stopped gracefully, flushing its
		// checkpoints: each partition's checkpoint is its last event.
		if want := r.log.producedIn(l.PartitionID); l.Checkpoint == nil || l.Checkpoint.SequenceNumber != want {
			r.log.violate("partition %s: final checkpoint %+v, want sequence %d", l.PartitionID, l.Checkpoint, want)
		}
	}
	sum.Violations = r.log.violations()
}

// proc is the demo's processor: it records every event it handles.
type proc struct {
	host string
	log  *ledger
}

func (p *proc) Open(_ context.Context, pt *processor.Partition) error {
	p.log.opened(pt.ID, pt.Epoch, p.host)
	return nil
}

func (p *proc) Process(ctx context.Context, pt *processor.Partition, evs []processor.Event) error {
	p.log.processed(pt.ID, evs)
	err := pt.Checkpoint(ctx, evs[len(evs)-1])
	if errors.Is(err, blobstore.ErrLeaseLost) {
		return nil // the host stops this partition; another owner resumes
	}
	return err
}

func (p *proc) Close(context.Context, *processor.Partition, processor.CloseReason) error { return nil }

// observed is the observer's latest view of the store, and what it checks.
type observed struct {
	owner      map[string]string // partition -> owner ("" free)
	epochOwner map[string]string // partition/epoch -> owner seen
	sequence   map[string]int64  // partition -> highest checkpoint seen
	leases     []blobstore.Lease
}

func (r *run) poll(ctx context.Context) error {
	leases, err := r.observer.ListLeases(ctx)
	if err != nil {
		return err
	}
	v := &r.view
	if v.owner == nil {
		v.owner, v.epochOwner, v.sequence = map[string]string{}, map[string]string{}, map[string]int64{}
	}
	v.leases = leases
	for _, l := range leases {
		v.owner[l.PartitionID] = l.Owner
		if l.Owner != "" {
			k := fmt.Sprintf("%s/%d", l.PartitionID, l.Epoch)
			if prev, ok := v.epochOwner[k]; ok && prev != l.Owner {
				r.log.violate("partition %s has two owners at epoch %d: %s and %s", l.PartitionID, l.Epoch, prev, l.Owner)
			}
			v.epochOwner[k] = l.Owner
		}
		if l.Checkpoint != nil {
			if prev, ok := v.sequence[l.PartitionID]; ok && l.Checkpoint.SequenceNumber < prev {
				r.log.violate("partition %s checkpoint went back from %d to %d", l.PartitionID, prev, l.Checkpoint.SequenceNumber)
			}
			v.sequence[l.PartitionID] = max(v.sequence[l.PartitionID], l.Checkpoint.SequenceNumber)
		}
	}
	return nil
}

func (v *observed) ownedBy(owner string) []string {
	var out []string
	for id, o := range v.owner {
		if o == owner {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// allTakenFrom reports whether every partition in ids is owned by a host
// other than from.
func (v *observed) allTakenFrom(ids []string, from string) bool {
	for _, id := range ids {
		if o := v.owner[id]; o == "" || o == from {
			return false
		}
	}
	return true
}

// redact shows a store URL without its credentials: blobstore.RedactURL,
// the redactor the library and the CLI use too.
func redact(raw string) string { return blobstore.RedactURL(raw) }

// meterProvider is the hosts' MeterProvider: nil without MetricsAddr.
func (r *run) meterProvider() metric.MeterProvider {
	if r.metrics == nil {
		return nil
	}
	return r.metrics.provider
}

package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/internal/quietlog"
)

// ErrAbandon is a cancellation cause: cancelling Run's context with it
// (context.WithCancelCause) makes the host stop at once without flushing,
// releasing or leaving, as if the process had been killed: its leases expire
// and other hosts take over after the lease duration. Tests and demos use it
// to rehearse a crash.
var ErrAbandon = errors.New("processor: abandon the partitions without a handover")

// Options configure a Host. A nil *Options means the defaults.
type Options struct {
	// BalanceInterval is how often the host heartbeats, renews its leases
	// and rebalances. Default: the store's RenewInterval.
	BalanceInterval time.Duration
	// Checkpoint says when marked progress is written. Default: on every mark.
	Checkpoint CheckpointPolicy
	// MaxBatch bounds the events per Process call. Default 100.
	MaxBatch int
	// Clock is the clock for the checkpoint interval. Give it the same clock
	// as the store's. Default: the system clock.
	Clock blobstore.Clock
	// Logger receives the host's errors and ownership changes, with the
	// keys listed in the package doc (# Logs). Default: discarded.
	Logger *slog.Logger
	// WarnInterval: an identical warning (same message and partition) is
	// logged at most once per WarnInterval, the next one with the number
	// dropped in between ("repeated"): a store outage warns once a minute
	// per partition, not once a cycle. Default one minute; negative logs
	// every one.
	WarnInterval time.Duration
	// MeterProvider receives the host's OpenTelemetry metrics (metrics.go:
	// partitions owned, acquisitions, handovers, losses by cause,
	// checkpoints and their duration, events, lag). Default: none, at no
	// cost. Give the store the same provider for its request metrics.
	MeterProvider metric.MeterProvider
	// MetricsPartitionIDs records the lag per partition (attribute
	// tidemark.partition) instead of the host's largest: one series per
	// partition, so only where the partitions are few.
	MetricsPartitionIDs bool
	// TracerProvider receives a span per balancing cycle
	// ("tidemark.host.cycle"; the store's request spans are its children
	// when the store has a TracerProvider too). Default: none.
	TracerProvider trace.TracerProvider
}

// Stats counts what a host did.
type Stats struct {
	Claims      int64 // free or expired leases acquired
	Steals      int64 // leases stolen to rebalance
	Lost        int64 // leases lost to another host or an operator
	Shed        int64 // leases handed over to balance the group
	Released    int64 // leases released (shutdown or shed)
	Checkpoints int64 // checkpoints written
	Cycles      int64 // balancing cycles run
	Finished    int64 // partitions that ended, processed to their end and recorded finished
}

// Host is one member of a consumer group: it owns a fair share of the
// stream's partitions and runs a Processor on each.
type Host struct {
	store   *blobstore.Store
	src     Source
	factory func(partitionID string) Processor
	opts    Options
	clock   blobstore.Clock
	log     *slog.Logger

	keeps sync.WaitGroup // heartbeats and flush-and-renew calls in flight

	hbMu    sync.Mutex // a heartbeat in flight; stop takes it to leave
	leaving bool       // set by a graceful stop: no more heartbeats

	mu         sync.Mutex
	workers    map[string]*worker
	partitions []string
	parents    map[string][]string // partition -> parents, from a LineageSource
	corrupt    map[string]string   // unreadable record key -> reason, as last reported
	// settled is true when the last plan found nothing to do and every
	// host within its fair share, with the same live hosts as the plan
	// before: the next Scan then need not read records that changed under
	// other hosts' leases. lastLive is that plan's live hosts.
	settled  bool
	lastLive []string

	stats struct {
		claims, steals, shed, lost, released, checkpoints, cycles, finished atomic.Int64
	}
	metrics *hostMetrics // nil without a MeterProvider
}

type worker struct {
	p    *Partition
	done chan struct{}
	// keeping is set while a flush-and-renew of the partition is in flight:
	// a cycle starts no second one, and does not wait for a stuck one.
	keeping atomic.Bool
}

type sysClock struct{}

func (sysClock) Now() time.Time { return time.Now() }

// New returns a Host that owns partitions through store, reads them from src
// and runs factory(partitionID) on each partition it takes. The host's name
// is store.Owner().
func New(store *blobstore.Store, src Source, factory func(partitionID string) Processor, opts *Options) (*Host, error) {
	if store == nil || src == nil || factory == nil {
		return nil, fmt.Errorf("%w: processor.New needs a store, a source and a factory", blobstore.ErrInvalidArgument)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.BalanceInterval <= 0 {
		o.BalanceInterval = store.RenewInterval()
	}
	// A renewal is skipped when a write landed within the renew interval, and
	// renewals start once per cycle: a renewal can start RenewInterval +
	// BalanceInterval after the last write started, and each store call may
	// take up to RenewInterval (opContext). A renewal that succeeds within
	// its bound must land before the lease lapses, so the host refuses
	// timings where it could not.
	if o.BalanceInterval+2*store.RenewInterval() > store.LeaseDuration() {
		return nil, fmt.Errorf("%w: BalanceInterval %v + 2 x the store's RenewInterval %v must not exceed its lease duration %v: a renewal may start RenewInterval + BalanceInterval after the last write and take up to RenewInterval, and healthy leases would lapse",
			blobstore.ErrInvalidArgument, o.BalanceInterval, store.RenewInterval(), store.LeaseDuration())
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 100
	}
	if o.Clock == nil {
		o.Clock = sysClock{}
	}
	log := slog.New(slog.DiscardHandler)
	if o.Logger != nil {
		if o.WarnInterval == 0 {
			o.WarnInterval = time.Minute
		}
		log = slog.New(quietlog.New(o.Logger.Handler(), o.WarnInterval, o.Clock))
	}
	h := &Host{store: store, src: src, factory: factory, opts: o, clock: o.Clock,
		log: log.With("host", store.Owner()), workers: map[string]*worker{}, corrupt: map[string]string{}}
	if o.MeterProvider != nil {
		m, err := newHostMetrics(h, o.MeterProvider, o.MetricsPartitionIDs)
		if err != nil {
			return nil, fmt.Errorf("processor: metrics: %w", err)
		}
		h.metrics = m
	}
	return h, nil
}

// scanContext bounds a balancing scan by the lease duration: longer than one
// store call, because a scan of a large group on a slow store must still
// complete (what it read is kept for the next, so each scan reads less), and
// renewals run on their own ticker, so nothing waits for it.
func (h *Host) scanContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, h.store.LeaseDuration())
}

// opContext bounds one store call by the renew interval, so a hung request
// never holds up renewals and loss detection for the other partitions.
func (h *Host) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, h.store.RenewInterval())
}

// Name returns the host's name (its store's owner name).
func (h *Host) Name() string { return h.store.Owner() }

// Stats returns counts of what the host has done so far.
func (h *Host) Stats() Stats {
	return Stats{Claims: h.stats.claims.Load(), Steals: h.stats.steals.Load(), Shed: h.stats.shed.Load(), Lost: h.stats.lost.Load(),
		Released: h.stats.released.Load(), Checkpoints: h.stats.checkpoints.Load(), Cycles: h.stats.cycles.Load(),
		Finished: h.stats.finished.Load()}
}

// Lag returns, for each partition the host is processing whose Receiver is
// a LagReporter, how far behind the partition's newest event its last read
// was. Partitions whose lag is not known yet are left out.
func (h *Host) Lag() map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, w := range h.snapshot() {
		if w.p.ctx.Err() != nil {
			continue
		}
		if lr := w.p.lag.Load(); lr != nil {
			if d, ok := (*lr).Lag(); ok {
				out[w.p.ID] = d
			}
		}
	}
	return out
}

// Owned returns the ids of the partitions the host is processing, sorted. A
// partition whose processing is being stopped is not included.
func (h *Host) Owned() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.workers))
	for id, w := range h.workers {
		if w.p.ctx.Err() == nil {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Run joins the group and processes partitions until ctx is cancelled, then
// hands over gracefully: it stops every processor, flushes its checkpoint,
// calls Close(Shutdown), releases the lease and removes the host's presence,
// so the other hosts take over within one balancing cycle. If ctx was
// cancelled with cause ErrAbandon it stops without any of that.
//
// Run returns an error only if the host cannot start (the store or the source
// is unreachable); errors during operation are logged and retried.
func (h *Host) Run(ctx context.Context) error {
	if err := h.start(ctx); err != nil {
		return err
	}
	// Renewals run on a ticker of their own: a balancing cycle that takes
	// long (a large group's first scans, a slow store) never delays them.
	rctx, stopRenewing := context.WithCancel(ctx)
	var renewing sync.WaitGroup
	renewing.Go(func() {
		t := time.NewTicker(h.opts.BalanceInterval)
		defer t.Stop()
		for {
			select {
			case <-rctx.Done():
				return
			case <-t.C:
				h.renew(rctx)
			}
		}
	})
	t := time.NewTicker(h.opts.BalanceInterval)
	defer t.Stop()
	for {
		h.balance(ctx)
		select {
		case <-ctx.Done():
			stopRenewing()
			renewing.Wait()
			h.stop(!errors.Is(context.Cause(ctx), ErrAbandon))
			return nil
		case <-t.C:
		}
	}
}

// start creates the store and a record for every partition of the source.
func (h *Host) start(ctx context.Context) error {
	if err := h.store.CreateStoreIfNotExists(ctx); err != nil {
		return fmt.Errorf("processor: %w", err)
	}
	// Announce presence before claiming anything, so hosts starting
	// together count each other from their first cycle.
	if err := h.store.Heartbeat(ctx); err != nil {
		return fmt.Errorf("processor: %w", err)
	}
	// One scan tells which partitions have a record (and fills the store's
	// cache for the first cycle); only the missing ones are created.
	var stored map[string]bool
	sctx, cancel := h.scanContext(ctx)
	snap, serr := h.store.Scan(sctx, &blobstore.ScanOptions{ReadChanged: true})
	cancel()
	if serr == nil {
		stored = map[string]bool{}
		for _, l := range snap.Leases {
			stored[l.PartitionID] = true
		}
		for _, c := range snap.Corrupt {
			stored[c.PartitionID] = true
		}
		for id := range snap.Failed {
			stored[id] = true
		}
		h.noteCorrupt(snap.Corrupt)
	}
	if err := h.refreshPartitions(ctx, stored); err != nil && !h.startable(ctx, err) {
		lctx, cancel := h.opContext(context.WithoutCancel(ctx))
		defer cancel()
		_ = h.store.Leave(lctx) // not part of the group after all
		return err
	}
	return nil
}

// startable reports whether the host can run despite err from its first
// refresh: a partition whose record could not be created or read is retried
// every cycle, so only a store or source that cannot be used at all stops it
// (the source cannot list its partitions, or no partition's record could be
// reached).
func (h *Host) startable(ctx context.Context, err error) bool {
	var pe *partitionsError
	if !errors.As(err, &pe) || pe.ok == 0 ||
		errors.Is(err, blobstore.ErrStoreNotFound) || errors.Is(err, blobstore.ErrPermission) || errors.Is(err, blobstore.ErrClosed) {
		return false
	}
	h.warn(ctx, "some partitions have no record yet; retrying every cycle", "err", err)
	return true
}

// refreshPartitions reads the source's partitions and creates the record of
// each one the store lacks (a stream that grew, a record an operator
// deleted). stored holds the partitions with a record, readable or not; nil
// means unknown. One partition's failure does not stop the others: an
// unreadable record is reported (once per change) and left alone, and the
// first other error is returned after every partition was tried.
func (h *Host) refreshPartitions(ctx context.Context, stored map[string]bool) error {
	lctx, cancel := h.opContext(ctx)
	parts, parents, err := h.listPartitions(lctx)
	cancel()
	if err != nil {
		return fmt.Errorf("processor: listing partitions: %w", err)
	}
	slices.Sort(parts)
	var (
		mu      sync.Mutex
		first   error
		ok      int
		corrupt []*blobstore.CorruptRecordError
		wg      sync.WaitGroup
		sem     = make(chan struct{}, claimConcurrency)
	)
	for _, id := range parts {
		if stored != nil && stored[id] {
			mu.Lock()
			ok++ // the store showed its record
			mu.Unlock()
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cctx, cancel := h.opContext(ctx)
			_, err := h.store.CreateLeaseIfNotExists(cctx, id)
			cancel()
			mu.Lock()
			defer mu.Unlock()
			var ce *blobstore.CorruptRecordError
			switch {
			case err == nil:
				ok++
			case errors.As(err, &ce):
				ok++ // the store answered: the record is there, unreadable
				corrupt = append(corrupt, ce)
			case first == nil:
				first = err
			}
		})
	}
	wg.Wait()
	slices.SortFunc(corrupt, func(a, b *blobstore.CorruptRecordError) int { return strings.Compare(a.Key, b.Key) })
	if first != nil {
		first = &partitionsError{ok: ok, err: first}
	}
	if len(corrupt) > 0 {
		h.noteCorrupt(corrupt) // records the scan could not see; the cycle reports the rest
	}
	h.mu.Lock()
	h.partitions, h.parents = parts, parents
	h.mu.Unlock()
	return first
}

// listPartitions lists the source's partitions, with their parents when the
// source is a LineageSource.
func (h *Host) listPartitions(ctx context.Context) ([]string, map[string][]string, error) {
	ls, ok := h.src.(LineageSource)
	if !ok {
		parts, err := h.src.Partitions(ctx)
		return parts, nil, err
	}
	infos, err := ls.Lineage(ctx)
	if err != nil {
		return nil, nil, err
	}
	parts := make([]string, 0, len(infos))
	var parents map[string][]string
	for _, in := range infos {
		parts = append(parts, in.ID)
		if len(in.Parents) > 0 {
			if parents == nil {
				parents = map[string][]string{}
			}
			parents[in.ID] = slices.Clone(in.Parents)
		}
	}
	return parts, parents, nil
}

// partitionsError is the first error of a refresh that failed for some
// partitions; ok counts those the store answered for or showed.
type partitionsError struct {
	ok  int
	err error
}

func (e *partitionsError) Error() string { return "processor: " + e.err.Error() }
func (e *partitionsError) Unwrap() error { return e.err }

// noteCorrupt reports unreadable records once per change: a record that
// turns unreadable, or whose reason changes, is logged as a warning, and one
// that is readable again (repaired or removed) as information. The
// partitions stay out of balancing while unreadable.
func (h *Host) noteCorrupt(now []*blobstore.CorruptRecordError) {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := make(map[string]bool, len(now))
	for _, c := range now {
		seen[c.Key] = true
		if h.corrupt[c.Key] != c.Reason {
			h.corrupt[c.Key] = c.Reason
			h.log.Warn("unreadable record left out of balancing; repair it or remove it with tidemark rm --corrupt",
				"key", c.Key, "reason", c.Reason)
		}
	}
	for key := range h.corrupt {
		if !seen[key] {
			delete(h.corrupt, key)
			h.log.Info("record readable again", "key", key)
		}
	}
}

// warn logs a warning about a cycle's work unless the host is stopping:
// an operation its stop cancelled is not a failure to report.
func (h *Host) warn(ctx context.Context, msg string, args ...any) {
	if ctx.Err() == nil {
		h.log.Warn(msg, args...)
	}
}

// cycle heartbeats, renews and flushes what the host owns, then rebalances:
// one balancing interval's work, as Run does it on two tickers. Every store
// call is bounded by opContext.
func (h *Host) cycle(ctx context.Context) {
	h.renew(ctx)
	h.balance(ctx)
}

// renew heartbeats, and flushes and renews every partition. Its waits are
// bounded: it returns within the balance interval however the store
// behaves.
func (h *Host) renew(ctx context.Context) {
	// First the heartbeat, which renews every lease the host holds (see
	// blobstore's rule 7): wait for it, but not past a fraction of the
	// cycle. Then flush and renew every partition, all at once: a renewal
	// finds the heartbeat's and costs no request, unless the heartbeat
	// failed or is late, when it writes the partition's record instead. A
	// partition whose previous flush-and-renew is still in flight (a hung
	// request) is left to it: no second one is started, and the cycle does
	// not wait for it, so one stuck call never delays the others' renewals.
	bound := time.Now().Add(min(h.opts.BalanceInterval, h.store.RenewInterval()) / 2)
	if h.needsHeartbeat() {
		beat := make(chan struct{})
		h.keeps.Go(func() {
			defer close(beat)
			hctx, cancel := h.opContext(ctx)
			defer cancel()
			h.hbMu.Lock()
			defer h.hbMu.Unlock()
			if h.leaving {
				return
			}
			if err := h.store.Heartbeat(hctx); err != nil {
				h.warn(ctx, "heartbeat failed", "err", err)
			}
		})
		if !waitUntil(beat, bound) {
			h.warn(ctx, "heartbeat still in flight; renewing without it")
		}
	}
	var wg sync.WaitGroup
	for _, w := range h.snapshot() {
		if w.p.ctx.Err() != nil || !w.keeping.CompareAndSwap(false, true) {
			continue // already stopping, or its last keep is still in flight
		}
		wg.Add(1)
		h.keeps.Go(func() {
			defer wg.Done()
			defer w.keeping.Store(false)
			h.keep(ctx, w)
		})
	}
	// Wait for them, but not past a fraction of the cycle: healthy calls
	// return well within it, and a hung one finishes in the background.
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	if !waitUntil(waited, bound) {
		h.warn(ctx, "renewals still in flight; going on without waiting for them")
	}
}

// balance reads the group's state and acts on it: sheds, claims, steals.
func (h *Host) balance(ctx context.Context) {
	n := h.stats.cycles.Add(1)
	ctx, span := h.startCycleSpan(ctx, n)
	defer span.End()
	pl, err := h.plan(ctx)
	if err != nil {
		h.warn(ctx, "balancing skipped", "err", err)
		span.RecordError(err)
		span.SetStatus(codes.Error, "balancing skipped")
		return
	}
	span.SetAttributes(attribute.Int("tidemark.claims.planned", min(len(pl.claim), pl.limit)),
		attribute.Int("tidemark.sheds", len(pl.shed)), attribute.Bool("tidemark.steal", pl.steal != ""))
	if n <= 2 {
		// A newcomer's presence is not yet seen by its peers, who shed to it
		// in their next cycle: stealing now would take by force what they
		// are about to hand over gracefully.
		pl.steal = ""
	}
	for _, id := range pl.shed {
		if w := h.worker(id); w != nil && w.p.ctx.Err() == nil {
			h.stats.shed.Add(1)
			h.metrics.handedOver()
			w.p.cancel(errRebalance)
		}
	}
	// Claims and the steal share one bound: a store that hangs costs the
	// cycle one timeout, not one per claim.
	actx, cancel := h.opContext(ctx)
	defer cancel()
	h.claim(ctx, actx, pl.claim, pl.limit)
	if pl.steal != "" && actx.Err() == nil {
		l, err := h.store.Steal(actx, pl.steal)
		if err != nil {
			h.log.Info("steal failed", "partition", pl.steal, "err", err)
			return
		}
		h.stats.steals.Add(1)
		h.metrics.acquired(true)
		h.startWorker(ctx, l)
	}
}

// needsHeartbeat reports whether this cycle must write the host's presence:
// always, unless the host owns partitions and every one of them was written
// (checkpointed or acquired) within the renew interval, or has a checkpoint
// due that this cycle's flush writes (flushIfDue; if that write fails, the
// renewal after it writes the record instead). Those writes renew the
// leases and prove the host alive, so a busy host pays for its checkpoints
// only, also when they are due exactly once a renew interval.
func (h *Host) needsHeartbeat() bool {
	ws := h.snapshot()
	if len(ws) == 0 {
		return true
	}
	now := h.clock.Now()
	iv := h.opts.Checkpoint.EveryInterval
	for _, w := range ws {
		if !w.p.mu.TryLock() {
			return true // a write in flight has not renewed anything yet
		}
		since := now.Sub(w.p.lastWrite)
		recent := since < h.store.RenewInterval() || (iv > 0 && w.p.pending > 0 && since >= iv)
		w.p.mu.Unlock()
		if !recent {
			return true
		}
	}
	return false
}

// claimConcurrency bounds the acquisitions a cycle has in flight at once.
const claimConcurrency = 8

// claim acquires up to limit of ids, trying them in order, a few at a time:
// a group of thousands of partitions is shared out in a cycle or two, not one
// partition per round trip. A partition another host won is skipped.
func (h *Host) claim(ctx, actx context.Context, ids []string, limit int) {
	var (
		mu              sync.Mutex
		cond            = sync.NewCond(&mu)
		taken, inflight int
		wg              sync.WaitGroup
	)
	for _, id := range ids {
		mu.Lock()
		for inflight > 0 && (taken+inflight >= limit || inflight >= claimConcurrency) {
			cond.Wait()
		}
		stop := taken >= limit || actx.Err() != nil
		if !stop {
			inflight++
		}
		mu.Unlock()
		if stop {
			break
		}
		wg.Go(func() {
			l, err := h.store.Acquire(actx, id)
			mu.Lock()
			inflight--
			if err == nil {
				taken++
			}
			cond.Broadcast()
			mu.Unlock()
			if err != nil {
				if !errors.Is(err, blobstore.ErrLeaseHeld) {
					h.warn(ctx, "claim failed", "partition", id, "err", err)
				}
				return
			}
			h.stats.claims.Add(1)
			h.metrics.acquired(false)
			h.startWorker(ctx, l)
		})
	}
	wg.Wait()
}

// keep flushes a partition's due checkpoint and renews its lease, and stops
// its processor if the lease is lost or lapsed.
func (h *Host) keep(ctx context.Context, w *worker) {
	if err := w.p.flushIfDue(ctx); err != nil && !errors.Is(err, blobstore.ErrLeaseLost) {
		h.warn(ctx, "checkpoint flush failed", "partition", w.p.ID, "err", err)
	}
	rctx, cancel := h.opContext(ctx)
	err := h.store.Renew(rctx, w.p.lease)
	cancel()
	switch {
	case errors.Is(err, blobstore.ErrLeaseLost):
		w.p.cancel(fmt.Errorf("%w: %w", errLeaseLost, err))
	case errors.Is(err, blobstore.ErrCorrupt):
		// The record cannot be renewed until an operator repairs it: stop
		// now, quietly (the cycle's listing reports the key once).
		w.p.cancel(fmt.Errorf("%w: %w", errLeaseLost, err))
	case err != nil:
		h.warn(ctx, "renew failed", "partition", w.p.ID, "err", err)
	}
	// Rule 5: not written within the lease duration, stop acting.
	if !h.store.Holds(w.p.lease) {
		w.p.cancel(fmt.Errorf("%w: %w", errLeaseLost, errLapsed))
	}
}

// listedLoss says why a lease the store no longer holds was lost, from the
// listing's record of its partition: another owner holds it, it was freed
// or removed by another writer, or it still names this host (it lapsed).
func listedLoss(leases []blobstore.Lease, l blobstore.Lease) error {
	lost := &blobstore.LeaseLostError{PartitionID: l.PartitionID, Op: "balance", Cause: blobstore.LossFenced,
		Reason: "the store's listing shows it removed"}
	i, found := slices.BinarySearchFunc(leases, l.PartitionID, func(x blobstore.Lease, id string) int { return strings.Compare(x.PartitionID, id) })
	switch {
	case !found:
	case leases[i].Token == l.Token:
		return errLapsed
	case leases[i].Owner == "":
		lost.Reason = fmt.Sprintf("the store's listing shows it freed by another writer (epoch %d)", leases[i].Epoch)
	default:
		lost.Cause, lost.Owner, lost.Epoch = blobstore.LossTaken, leases[i].Owner, leases[i].Epoch
		lost.Reason = fmt.Sprintf("the store's listing shows it held by %q (epoch %d)", leases[i].Owner, leases[i].Epoch)
	}
	return lost
}

// plan reads the group's state, creates the records of partitions the
// source has but the store lacks, and applies the balancing rule. The
// partition count comes from the store, which every host sees alike; only
// partitions the local source knows are claimed.
func (h *Host) plan(ctx context.Context) (plan, error) {
	lctx, cancel := h.scanContext(ctx)
	defer cancel()
	h.mu.Lock()
	readAll := !h.settled
	h.mu.Unlock()
	snap, err := h.store.Scan(lctx, &blobstore.ScanOptions{ReadChanged: readAll})
	if err != nil {
		return plan{}, err
	}
	h.noteCorrupt(snap.Corrupt)
	// The listing shows what renewals no longer write to learn: a lease
	// taken by another host (the Store stops holding it), or a record that
	// turned unreadable. Stop processing such partitions now.
	for _, c := range snap.Corrupt {
		if w := h.worker(c.PartitionID); w != nil {
			w.p.cancel(fmt.Errorf("%w: %w", errLeaseLost, c))
		}
	}
	for _, w := range h.snapshot() {
		if w.p.ctx.Err() == nil && !h.store.Holds(w.p.lease) {
			w.p.cancel(fmt.Errorf("%w: %w", errLeaseLost, listedLoss(snap.Leases, w.p.lease)))
		}
	}
	if len(snap.Failed) > 0 {
		ids := make([]string, 0, len(snap.Failed))
		for id := range snap.Failed {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		h.warn(ctx, "records unreadable this cycle; balancing the others", "partitions", ids, "err", snap.Failed[ids[0]])
	}
	leases, hosts := snap.Leases, snap.Hosts
	stored := make(map[string]bool, len(leases)+len(snap.Corrupt)+len(snap.Failed))
	for _, l := range leases {
		stored[l.PartitionID] = true
	}
	for _, c := range snap.Corrupt {
		stored[c.PartitionID] = true // there is a record: never create over it
	}
	for id := range snap.Failed {
		stored[id] = true // there is a record, unreadable for now
	}
	if err := h.refreshPartitions(ctx, stored); err != nil {
		h.warn(ctx, "partition refresh failed", "err", err)
	}
	h.mu.Lock()
	known, parents := h.partitions, h.parents
	mine := make(map[string]bool, len(h.workers))
	for id := range h.workers {
		mine[id] = true
	}
	h.mu.Unlock()
	// Finished partitions, partitions whose parents are not finished yet,
	// and partitions a LineageSource no longer lists (aged out of the
	// stream) are not balanced (see lineage.go).
	_, lineage := h.src.(LineageSource)
	finished := map[string]bool{}
	for _, l := range leases {
		if finishedLease(l) {
			finished[l.PartitionID] = true
		}
	}
	var blocked, gone map[string]bool
	if lineage {
		gone = h.stopUnlisted(known, stored)
		blocked = waiting(stored, parents, finished, known)
		if len(blocked) > 0 && h.readParents(lctx, blocked, parents, finished, known, mine) {
			blocked = waiting(stored, parents, finished, known)
		}
	}
	v := view{self: h.Name(), owner: map[string]string{}}
	for _, hs := range hosts {
		if !hs.Expired {
			v.liveHosts = append(v.liveHosts, hs.Name)
		}
	}
	for id := range snap.Failed {
		if mine[id] {
			// Unreadable now, but ours: still counted as ours.
			v.partitions = append(v.partitions, id)
			v.owner[id] = h.Name()
		}
	}
	for _, l := range leases {
		if (finished[l.PartitionID] || blocked[l.PartitionID] || gone[l.PartitionID]) && !mine[l.PartitionID] {
			continue
		}
		v.partitions = append(v.partitions, l.PartitionID)
		switch {
		case mine[l.PartitionID]:
			v.owner[l.PartitionID] = h.Name()
		case l.Owner == h.Name():
			// Ours on record but not running (we lost it and it was not
			// re-taken): free for us, held for everyone else.
		case !l.Free():
			v.owner[l.PartitionID] = l.Owner
		}
	}
	slices.Sort(v.partitions)
	pl := planCycle(v)
	// Read every changed record next cycle unless this view is settled: a
	// settled view's changes are the owners' checkpoints (see
	// blobstore.ScanOptions). (The parents a partition waits for are read
	// one by one, readParents.)
	settled := pl.empty() && v.settled() && slices.Equal(v.liveHosts, h.lastLive)
	h.mu.Lock()
	h.settled, h.lastLive = settled, v.liveHosts
	h.mu.Unlock()
	// Claim and steal only what the local source can read.
	pl.claim = slices.DeleteFunc(pl.claim, func(id string) bool {
		_, ok := slices.BinarySearch(known, id)
		return !ok
	})
	if _, ok := slices.BinarySearch(known, pl.steal); !ok {
		pl.steal = ""
	}
	return pl, nil
}

// stopUnlisted hands back the partitions this host processes that its
// LineageSource no longer lists (aged out of the stream: nothing more can
// be read), and returns the stored partitions the source does not list.
func (h *Host) stopUnlisted(known []string, stored map[string]bool) map[string]bool {
	listed := func(id string) bool { _, ok := slices.BinarySearch(known, id); return ok }
	var gone map[string]bool
	for id := range stored {
		if !listed(id) {
			if gone == nil {
				gone = map[string]bool{}
			}
			gone[id] = true
		}
	}
	for _, w := range h.snapshot() {
		if w.p.ctx.Err() == nil && !listed(w.p.ID) {
			h.log.Warn("partition no longer in the stream (aged out before it was read to its end): handing it back", "partition", w.p.ID)
			w.p.cancel(errGone)
		}
	}
	return gone
}

// readParents reads the records of the parents that blocked partitions wait
// for and that this host's view does not show finished: their owners mark
// them finished under their leases, and a listing that is settled would not
// read them. It costs a request per such parent per cycle, only while a
// partition waits. It reports whether a parent turned out finished.
func (h *Host) readParents(ctx context.Context, blocked map[string]bool, parents map[string][]string, finished map[string]bool, known []string, mine map[string]bool) bool {
	want := map[string]bool{}
	for id := range blocked {
		for _, par := range parents[id] {
			// A parent this host processes is marked by this host: the
			// store's cache shows it.
			if _, listed := slices.BinarySearch(known, par); listed && !finished[par] && !mine[par] {
				want[par] = true
			}
		}
	}
	var (
		mu    sync.Mutex
		found bool
		wg    sync.WaitGroup
		sem   = make(chan struct{}, claimConcurrency)
	)
	for par := range want {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			l, ok, err := h.store.GetLease(ctx, par)
			if err != nil || !ok || !finishedLease(l) {
				return
			}
			mu.Lock()
			finished[par], found = true, true
			mu.Unlock()
		})
	}
	wg.Wait()
	return found
}

func (h *Host) worker(id string) *worker {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.workers[id]
}

func (h *Host) snapshot() []*worker {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*worker, 0, len(h.workers))
	for _, w := range h.workers {
		out = append(out, w)
	}
	return out
}

// startWorker runs a processor on a partition the host has just acquired.
func (h *Host) startWorker(parent context.Context, l blobstore.Lease) {
	start := blobstore.Checkpoint{PartitionID: l.PartitionID, Offset: blobstore.StartOfStream}
	if l.Checkpoint != nil {
		start = *l.Checkpoint
	}
	// The worker outlives the cycle's context: it is stopped through cancel.
	// Nor is it part of the cycle's span: its requests are traced as roots.
	ctx, cancel := context.WithCancelCause(trace.ContextWithSpanContext(context.WithoutCancel(parent), trace.SpanContext{}))
	p := &Partition{ID: l.PartitionID, Epoch: l.Epoch, Start: start, host: h, lease: l, ctx: ctx, cancel: cancel,
		marked: start, written: start, lastWrite: h.clock.Now()}
	w := &worker{p: p, done: make(chan struct{})}
	h.mu.Lock()
	if old, ok := h.workers[l.PartitionID]; ok {
		old.p.cancel(fmt.Errorf("%w: %w", errLeaseLost, &blobstore.LeaseLostError{PartitionID: l.PartitionID, Op: "process",
			Cause: blobstore.LossNotHeld, Reason: "superseded by this host's newer acquisition"}))
	}
	h.workers[l.PartitionID] = w
	h.mu.Unlock()
	h.log.Info("partition taken", "partition", l.PartitionID, "epoch", l.Epoch, "offset", start.Offset)
	go h.runWorker(w)
}

func (h *Host) runWorker(w *worker) {
	defer close(w.done)
	p := w.p
	defer func() {
		h.mu.Lock()
		if h.workers[p.ID] == w {
			delete(h.workers, p.ID)
		}
		h.mu.Unlock()
	}()
	if p.Start.Offset == EndOfPartition {
		// Taken on a view that had not seen it finish: give it back.
		p.cancel(errEnded)
		ctx, cancel := context.WithTimeout(context.Background(), h.store.LeaseDuration())
		defer cancel()
		p.close()
		h.release(ctx, p)
		return
	}
	proc := h.factory(p.ID)
	if err := proc.Open(p.ctx, p); err != nil {
		h.warn(p.ctx, "processor open failed", "partition", p.ID, "err", err)
		p.cancel(fmt.Errorf("%w: %w", errOpen, err))
	} else {
		h.process(p, proc)
	}
	cause := context.Cause(p.ctx)
	if errors.Is(cause, ErrAbandon) {
		return // a rehearsed crash: nothing is written
	}
	// A fresh context: the worker's is cancelled, and the handover must
	// still be written.
	ctx, cancel := context.WithTimeout(context.Background(), h.store.LeaseDuration())
	defer cancel()
	switch {
	case errors.Is(cause, blobstore.ErrLeaseLost):
		h.stats.lost.Add(1)
		h.metrics.lost(cause)
		h.log.Info("partition lost", "partition", p.ID, "epoch", p.Epoch, "err", cause)
		p.close()
		_ = proc.Close(ctx, p, LeaseLost)
		h.store.Forget(p.lease)
	case errors.Is(cause, errOpen):
		p.close()
		_ = proc.Close(ctx, p, OpenFailed)
		h.release(ctx, p)
	case errors.Is(cause, errEnded):
		h.end(ctx, p, proc)
	default: // shutdown or rebalance: a graceful handover
		if err := p.Flush(ctx); err != nil {
			h.log.Warn("final checkpoint failed", "partition", p.ID, "err", err)
			h.abandon(ctx, p, proc, err)
			return
		}
		reason := Shutdown
		if errors.Is(cause, errRebalance) {
			reason = Rebalanced
		}
		_ = proc.Close(ctx, p, reason)
		// Close may mark what it finished: flush once more, then hand over.
		err := p.Flush(ctx)
		p.close()
		if err != nil {
			h.log.Warn("final checkpoint failed", "partition", p.ID, "err", err)
			h.store.Forget(p.lease)
			return
		}
		h.release(ctx, p)
	}
}

func (h *Host) process(p *Partition, proc Processor) {
	recv, err := h.src.Open(p.ctx, p.ID, p.Start)
	if err != nil {
		h.warn(p.ctx, "source open failed", "partition", p.ID, "err", err)
		p.cancel(fmt.Errorf("%w: %w", errOpen, err))
		return
	}
	defer recv.Close()
	if lr, ok := recv.(LagReporter); ok {
		p.lag.Store(&lr)
	}
	for p.ctx.Err() == nil {
		evs, err := recv.Receive(p.ctx, h.opts.MaxBatch)
		ended := errors.Is(err, ErrEndOfPartition)
		if ended && len(evs) == 0 {
			if p.ctx.Err() == nil {
				p.cancel(errEnded)
			}
			break
		}
		if err != nil && !ended {
			if p.ctx.Err() == nil {
				h.log.Warn("receive failed", "partition", p.ID, "err", err)
				sleep(p.ctx, 100*time.Millisecond)
			}
			continue
		}
		if p.ctx.Err() != nil {
			break
		}
		if !h.mayProcess(p) {
			// Rule 5: not written within the lease duration; another host
			// may have taken over. No more work under this lease.
			p.cancel(fmt.Errorf("%w: %w", errLeaseLost, errLapsed))
			break
		}
		if len(evs) > 0 {
			p.delivered, p.hasDelivered = evs[len(evs)-1], true
		}
		h.metrics.processed(len(evs))
		if err := proc.Process(p.ctx, p, evs); err != nil && p.ctx.Err() == nil {
			h.log.Warn("process failed", "partition", p.ID, "err", err)
		}
		if ended && p.ctx.Err() == nil {
			// The last events came with the end: processed, now end.
			p.cancel(errEnded)
		}
	}
}

// mayProcess reports whether the host may hand out a batch under p's lease.
// It never hands one out with less than a safety margin of the lease left
// (a quarter of the renew interval): a goroutine paused between this check
// and the Process call must not start work after another host could have
// taken over. Inside the margin it waits for the renewal in flight (a
// healthy lease never gets there, see New), and it gives up when the lease
// lapses.
func (h *Host) mayProcess(p *Partition) bool {
	margin := h.store.RenewInterval() / 4
	for {
		rem := h.store.Remaining(p.lease)
		switch {
		case rem == 0 || p.ctx.Err() != nil:
			return false
		case rem > margin:
			return true
		}
		sleep(p.ctx, min(rem, 10*time.Millisecond))
	}
}

// end closes a partition that ended. If everything given to its processor
// was checkpointed, it records the partition finished, then releases it;
// otherwise it releases it unfinished, to be read again from its checkpoint.
func (h *Host) end(ctx context.Context, p *Partition, proc Processor) {
	if err := p.Flush(ctx); err != nil {
		h.log.Warn("final checkpoint failed", "partition", p.ID, "err", err)
		h.abandon(ctx, p, proc, err)
		return
	}
	_ = proc.Close(ctx, p, Finished)
	// Close may mark the last event: flush once more.
	if err := p.Flush(ctx); err != nil {
		h.log.Warn("final checkpoint failed", "partition", p.ID, "err", err)
		p.close()
		h.store.Forget(p.lease)
		return
	}
	if !p.finishedAll() {
		h.log.Warn("partition ended, but its processor did not checkpoint its last event: released unfinished, to be read again from its checkpoint",
			"partition", p.ID, "last", p.delivered.Offset)
		p.close()
		h.release(ctx, p)
		return
	}
	if err := p.finish(ctx); err != nil {
		h.log.Warn("recording the partition finished failed", "partition", p.ID, "err", err)
		p.close()
		if errors.Is(err, blobstore.ErrLeaseLost) {
			h.stats.lost.Add(1)
			h.metrics.lost(err)
			h.store.Forget(p.lease)
			return
		}
		h.release(ctx, p)
		return
	}
	p.close()
	h.stats.finished.Add(1)
	h.log.Info("partition finished", "partition", p.ID, "epoch", p.Epoch)
	h.release(ctx, p)
}

// abandon ends a partition whose handover cannot be written: its processor is
// told the lease is lost, and the store forgets the lease, so it expires for
// the others and a re-acquisition here gets a new epoch.
func (h *Host) abandon(ctx context.Context, p *Partition, proc Processor, err error) {
	h.stats.lost.Add(1)
	h.metrics.lost(err)
	p.close()
	_ = proc.Close(ctx, p, LeaseLost)
	h.store.Forget(p.lease)
}

func (h *Host) release(ctx context.Context, p *Partition) {
	if err := h.store.Release(ctx, p.lease); err != nil {
		h.log.Warn("release failed", "partition", p.ID, "err", err)
		h.store.Forget(p.lease)
		return
	}
	h.stats.released.Add(1)
	h.log.Info("partition released", "partition", p.ID, "epoch", p.Epoch)
}

// stop ends every worker and, when graceful, leaves the group.
func (h *Host) stop(graceful bool) {
	cause := ErrAbandon
	if graceful {
		cause = errShutdown
	}
	ws := h.snapshot()
	for _, w := range ws {
		w.p.cancel(cause)
	}
	if graceful {
		// Leave first: the others count this host through its leases until
		// each is released, and not a moment longer. The leases stay renewed
		// by the last heartbeat while they are flushed and released. No
		// heartbeat of this host may follow: it would rejoin the group.
		h.hbMu.Lock()
		h.leaving = true
		h.hbMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), h.store.LeaseDuration())
		defer cancel()
		if err := h.store.Leave(ctx); err != nil {
			h.log.Warn("leave failed", "err", err)
		}
	}
	for _, w := range ws {
		<-w.done
	}
	h.keeps.Wait() // each is bounded by opContext
	h.metrics.close()
}

// waitUntil waits for done until the deadline and reports whether it came.
func waitUntil(done <-chan struct{}, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// startCycleSpan starts the span of balancing cycle n (a no-op span
// without a TracerProvider).
func (h *Host) startCycleSpan(ctx context.Context, n int64) (context.Context, trace.Span) {
	if h.opts.TracerProvider == nil {
		return ctx, noop.Span{}
	}
	return h.opts.TracerProvider.Tracer(blobstore.MeterName).Start(ctx, "tidemark.host.cycle",
		trace.WithAttributes(attribute.String("tidemark.host", h.Name()), attribute.Int64("tidemark.cycle", n)))
}

package processor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidemark/tidemark/blobstore"
)

// Processor is user code for one partition. The host calls Open once, then
// Process with batches in order, then Close once; all from one goroutine.
type Processor interface {
	// Open is called when the host has taken the partition. p.Start is the
	// checkpoint processing resumes after. An error gives the lease back.
	Open(ctx context.Context, p *Partition) error
	// Process handles a batch of events. Call p.Checkpoint with the last
	// event handled; the host writes checkpoints as its policy says. ctx is
	// cancelled when the host stops processing the partition.
	Process(ctx context.Context, p *Partition, events []Event) error
	// Close is called when processing stops, with the reason. After
	// LeaseLost no checkpoint can be written.
	Close(ctx context.Context, p *Partition, reason CloseReason) error
}

// CloseReason tells Processor.Close why processing stopped.
type CloseReason int

const (
	// Shutdown means the host is stopping gracefully. The last checkpoint has been
	// flushed, and the lease is released after Close returns.
	Shutdown CloseReason = iota + 1
	// LeaseLost means another host took the partition (stolen or expired), or an
	// operator fenced it. The checkpoint could not be flushed.
	LeaseLost
	// OpenFailed means Processor.Open returned an error; the lease is released.
	OpenFailed
	// Rebalanced means the host handed the partition to a less loaded host. The
	// last checkpoint has been flushed, and the lease is released after Close
	// returns.
	Rebalanced
	// Finished means the partition ended (a closed Kinesis shard) and every
	// one of its events was given to Process. Checkpoint the last one, here
	// at the latest: then the host records the partition finished, and its
	// children start. Otherwise it is released unfinished and read again
	// from its checkpoint.
	Finished
)

func (r CloseReason) String() string {
	switch r {
	case Shutdown:
		return "shutdown"
	case LeaseLost:
		return "lease lost"
	case OpenFailed:
		return "open failed"
	case Rebalanced:
		return "rebalanced"
	case Finished:
		return "finished"
	}
	return fmt.Sprintf("CloseReason(%d)", int(r))
}

// CheckpointPolicy says when marked progress is written to the store. The
// zero value writes on every Partition.Checkpoint call. Whatever the policy,
// pending progress is flushed before a graceful release.
type CheckpointPolicy struct {
	// EveryEvents writes once this many events have been marked since the
	// last write (0: not by count).
	EveryEvents int
	// EveryInterval writes when this long has passed since the last write and
	// progress is pending; the host also flushes such progress at each
	// balancing cycle, so an idle partition's last mark is not left unwritten
	// (0: not by time).
	EveryInterval time.Duration
}

func (c CheckpointPolicy) everyCall() bool { return c.EveryEvents <= 0 && c.EveryInterval <= 0 }

// Cause of a worker's stop, read with context.Cause.
var (
	errShutdown  = errors.New("processor: host shutting down")
	errRebalance = errors.New("processor: handed over to balance the group")
	errLeaseLost = fmt.Errorf("processor: %w", blobstore.ErrLeaseLost)
	errOpen      = errors.New("processor: open failed")
	errEnded     = fmt.Errorf("processor: %w", ErrEndOfPartition)
	errGone      = errors.New("processor: the partition is no longer in the stream")
)

// Partition is a processor's handle on the partition it owns.
type Partition struct {
	// ID is the partition id.
	ID string
	// Epoch is the lease's epoch: it grows with every change of owner, so it
	// can fence writes downstream too.
	Epoch uint64
	// Start is the checkpoint processing resumed after.
	Start blobstore.Checkpoint

	host   *Host
	lease  blobstore.Lease
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu        sync.Mutex
	closed    bool                 // Close has returned: nothing more is written
	marked    blobstore.Checkpoint // latest progress marked by the processor
	written   blobstore.Checkpoint // latest progress stored
	pending   int                  // events marked since the last write
	lastWrite time.Time            // host clock

	// The last event given to Process; read and written by the worker's
	// goroutine only.
	delivered    Event
	hasDelivered bool
	// lag is the Receiver, when it is a LagReporter.
	lag atomic.Pointer[LagReporter]
}

// close marks the handle closed: its checkpoints are refused from now on.
func (p *Partition) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

// Done is closed when the host stops processing the partition.
func (p *Partition) Done() <-chan struct{} { return p.ctx.Done() }

// Lost reports whether processing stopped because the lease was lost.
func (p *Partition) Lost() bool { return errors.Is(context.Cause(p.ctx), blobstore.ErrLeaseLost) }

// Checkpoint marks ev, and every event before it, as processed, and writes
// the checkpoint when the policy says so. Marks never go backwards: a mark at
// or below the latest one is ignored. It returns an error wrapping
// blobstore.ErrLeaseLost once the lease is gone; processing then stops.
func (p *Partition) Checkpoint(ctx context.Context, ev Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ev.SequenceNumber <= p.marked.SequenceNumber && p.marked.Offset != blobstore.StartOfStream {
		return nil
	}
	p.marked = blobstore.Checkpoint{PartitionID: p.ID, Offset: ev.Offset, SequenceNumber: ev.SequenceNumber}
	p.pending++
	pol := p.host.opts.Checkpoint
	due := pol.everyCall() ||
		(pol.EveryEvents > 0 && p.pending >= pol.EveryEvents) ||
		(pol.EveryInterval > 0 && p.host.clock.Now().Sub(p.lastWrite) >= pol.EveryInterval)
	if !due {
		return nil
	}
	return p.writeLocked(ctx)
}

// Flush writes pending progress now.
func (p *Partition) Flush(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.writeLocked(ctx)
}

// flushIfDue writes pending progress older than the policy's interval. It
// skips a partition whose processor is writing right now (that write renews
// it anyway), so one slow write never holds up the cycle.
func (p *Partition) flushIfDue(ctx context.Context) error {
	if !p.mu.TryLock() {
		return nil
	}
	defer p.mu.Unlock()
	iv := p.host.opts.Checkpoint.EveryInterval
	if p.pending == 0 || iv <= 0 || p.host.clock.Now().Sub(p.lastWrite) < iv {
		return nil
	}
	return p.writeLocked(ctx)
}

func (p *Partition) writeLocked(ctx context.Context) error {
	if p.closed {
		return fmt.Errorf("%w: partition %s was closed", blobstore.ErrLeaseLost, p.ID)
	}
	if err := context.Cause(p.ctx); errors.Is(err, blobstore.ErrLeaseLost) {
		return err
	}
	if p.pending == 0 {
		return nil
	}
	start := p.host.clock.Now()
	ctx, cancel := p.host.opContext(ctx)
	defer cancel()
	began := time.Now()
	err := p.host.store.UpdateCheckpoint(ctx, p.lease, p.marked)
	if err != nil {
		if errors.Is(err, blobstore.ErrLeaseLost) || errors.Is(err, blobstore.ErrCorrupt) {
			// Lost, or a record no write can go to until it is repaired.
			p.cancel(fmt.Errorf("%w: %w", errLeaseLost, err))
		}
		return err
	}
	p.host.stats.checkpoints.Add(1)
	p.host.metrics.checkpointed(time.Since(began))
	p.written, p.pending, p.lastWrite = p.marked, 0, start
	return nil
}

// finishedAll reports whether every event given to Process is covered by the
// stored checkpoint.
func (p *Partition) finishedAll() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.hasDelivered {
		return true
	}
	if p.pending > 0 || p.written.Offset == blobstore.StartOfStream {
		return false
	}
	if p.written.Offset == p.delivered.Offset {
		return true
	}
	return p.delivered.SequenceNumber != blobstore.NoSequenceNumber && p.written.SequenceNumber >= p.delivered.SequenceNumber
}

// finish writes the partition's finished mark (EndOfPartition) under its
// lease, keeping the last sequence number.
func (p *Partition) finish(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("%w: partition %s was closed", blobstore.ErrLeaseLost, p.ID)
	}
	end := blobstore.Checkpoint{PartitionID: p.ID, Offset: EndOfPartition, SequenceNumber: p.written.SequenceNumber}
	if p.written.Offset == blobstore.StartOfStream {
		end.SequenceNumber = 0
	}
	ctx, cancel := p.host.opContext(ctx)
	defer cancel()
	if err := p.host.store.UpdateCheckpoint(ctx, p.lease, end); err != nil {
		return err
	}
	p.host.stats.checkpoints.Add(1)
	p.written, p.marked, p.lastWrite = end, end, p.host.clock.Now()
	return nil
}

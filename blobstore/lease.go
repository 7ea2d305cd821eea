package blobstore

// The lease rules, all in this file.
//
//  1. Every state change is one conditional write (commit): create-only, or
//     compare-and-swap on the version this Store last saw. Nothing is ever
//     written unconditionally.
//  2. A lease is free when its record names no owner, or when this Store has
//     seen the same token and counter for a whole lease duration by its own
//     clock (observe). No other host's clock is ever read.
//  3. Acquiring bumps the epoch and draws a new random token. Every write bumps
//     the counter, so every write's bytes (and so its version) differ.
//  4. An owner writes with the version its own last write returned: one
//     request, no read. If the version moved, it reads once: the same token
//     means someone changed only the checkpoint (DeleteCheckpoint), so it
//     retries on top of that; any other token means the lease was lost.
//  5. An owner whose last successful write started more than a lease
//     duration ago stops acting as owner: its writes fail with ErrLeaseLost
//     without a request, because observers may already have taken over.
//  6. Renew skips its request when a write landed within the renew interval.

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// Lease is a partition's lease as last read or written by this Store. A Lease
// returned by Acquire or Steal is the caller's handle on its ownership: pass
// it to Renew, Release, UpdateLease and UpdateCheckpoint. It is a value; the
// Store keeps the version token it needs internally.
type Lease struct {
	PartitionID string
	// Owner is the owning host's name; empty when the lease is free.
	Owner string
	// Token identifies one acquisition; empty when the lease is free.
	Token string
	// Epoch counts acquisitions of the partition. It never decreases: a
	// processor can use it as a fencing token downstream.
	Epoch uint64
	// Checkpoint is the stored position, or nil when there is none.
	Checkpoint *Checkpoint
	// Metadata is the owner's opaque metadata (UpdateLease).
	Metadata string
	// UpdatedAt is the writer's wall-clock time of the last write.
	// Informational only: expiry never uses it.
	UpdatedAt time.Time
	// UnchangedFor is how long this Store has observed the record without a
	// write, by its own clock. Zero on the first observation.
	UnchangedFor time.Duration
	// Expired reports that the lease is held but this Store has observed no
	// write for at least the lease duration, so it may be acquired.
	Expired bool
}

// Free reports whether no live owner holds the lease.
func (l Lease) Free() bool { return l.Owner == "" || l.Expired }

// leaseOf builds the caller's view of a record.
func leaseOf(rec *record) Lease {
	l := Lease{
		PartitionID: rec.Partition,
		Owner:       rec.Owner,
		Token:       rec.Token,
		Epoch:       rec.Epoch,
		Metadata:    rec.Metadata,
		UpdatedAt:   rec.Updated,
	}
	if rec.Checkpoint != nil {
		l.Checkpoint = &Checkpoint{PartitionID: rec.Partition, Offset: rec.Checkpoint.Offset, SequenceNumber: rec.Checkpoint.Sequence}
	}
	return l
}

// observe records a sighting of rec (rule 2) and reports how long the same
// token and counter have been seen unchanged, and whether that makes a held
// lease expired. The caller holds p.mu.
func (s *Store) observe(p *partition, rec *record) (unchanged time.Duration, expired bool) {
	now := s.clock.Now()
	if p.obsSince.IsZero() || rec.Token != p.obsToken || rec.Counter != p.obsCounter {
		p.obsToken, p.obsCounter, p.obsSince = rec.Token, rec.Counter, now
		return 0, false
	}
	unchanged = now.Sub(p.obsSince)
	return unchanged, rec.held() && unchanged >= s.leaseDur
}

// observed returns the lease view of rec with the observation applied.
func (s *Store) observed(p *partition, rec *record) Lease {
	stale := p.known && rec.Counter < p.rec.Counter // older than our own write: a store that lost writes
	if p.token != "" && rec.Token != p.token && !stale {
		// A read made under the partition's lock, after our last write,
		// names another token (or none): the lease was taken, released or
		// fenced since. Stop acting as its owner now rather than at the
		// next write (Renew's skipped request, Holds).
		p.drop()
	}
	l := leaseOf(rec)
	l.UnchangedFor, l.Expired = s.observe(p, rec)
	if p.token != "" && p.token == rec.Token {
		l.Expired = false // our own lease: its freshness is rule 5's business
	}
	return l
}

// adopt records a successful write made through this Store. The caller holds
// p.mu.
func (p *partition) adopt(rec record, version string, start time.Time, owned bool) {
	p.rec, p.version, p.known = rec, version, true
	p.highest = max(p.highest, rec.Counter)
	if owned {
		p.token, p.renewedAt = rec.Token, start
	} else if p.token != rec.Token {
		p.token = ""
	}
}

// drop forgets ownership and remembers the token as dead, so that a lapsed
// handle is never revived by reading a record that still names it. The caller
// holds p.mu.
func (p *partition) drop() {
	if p.token != "" {
		p.dead = p.token
	}
	p.token, p.known = "", false
}

// Acquire takes the partition's lease if it is free: unowned, released, or
// expired by this Store's observation (a lease is seen as expired only after
// two reads at least a lease duration apart that find the same write). It
// costs one read and one conditional write, and returns ErrLeaseHeld if a live
// owner holds the lease or another host won the race for it, and
// ErrPartitionNotFound if the partition has no record.
//
// Acquiring a lease this Store already holds returns it unchanged.
func (s *Store) Acquire(ctx context.Context, id string) (Lease, error) {
	return s.acquire(ctx, id, false)
}

// Steal takes the partition's lease whatever its state: the previous owner's
// next write fails with ErrLeaseLost. Use it to rebalance.
//
// A steal is a read and a conditional write; it retries, with jitter, when
// the owner writes in between. An owner that writes more often than once per
// two storage round trips cannot be stolen from: after a bounded number of
// attempts Steal returns ErrLeaseHeld, and a balancer tries again later.
func (s *Store) Steal(ctx context.Context, id string) (Lease, error) {
	return s.acquire(ctx, id, true)
}

func (s *Store) acquire(ctx context.Context, id string, steal bool) (Lease, error) {
	if err := s.begin(id); err != nil {
		return Lease{}, err
	}
	p := s.part(id)
	if err := p.lock(ctx); err != nil {
		return Lease{}, err
	}
	defer p.unlock()

	for attempt := 1; ; attempt++ {
		l, retry, err := s.tryAcquire(ctx, p, id, steal)
		if !retry {
			return l, err
		}
		if attempt >= maxStealAttempts {
			return Lease{}, fmt.Errorf("%w: %q: its owner kept writing while it was being stolen", ErrLeaseHeld, id)
		}
		// The owner wrote between our read and our write; step out of its
		// rhythm before trying again.
		if err := sleepCtx(ctx, time.Duration(1+mrand.IntN(attempt*500))*time.Microsecond); err != nil {
			return Lease{}, fmt.Errorf("%w: steal %q: %w", ErrLeaseHeld, id, err)
		}
	}
}

// maxStealAttempts bounds how often Steal retries against an owner that keeps
// writing.
const maxStealAttempts = 12

// tryAcquire makes one attempt: one read, at most one write. retry asks for
// another attempt: a Steal that lost to a write by the very owner it meant to
// take the lease from. The caller holds p.mu.
func (s *Store) tryAcquire(ctx context.Context, p *partition, id string, steal bool) (_ Lease, retry bool, _ error) {
	rec, version, found, err := s.read(ctx, id)
	if err != nil {
		return Lease{}, false, err
	}
	if !found {
		return Lease{}, false, fmt.Errorf("%w: %q (create it first)", ErrPartitionNotFound, id)
	}
	view := s.observed(p, &rec)
	if p.pending != "" && rec.Token == p.pending {
		// An earlier acquisition whose outcome was unknown did land.
		p.adopt(rec, version, p.pendingStart, true)
	}
	p.pending = ""
	own := p.token != "" && p.token == rec.Token
	if own && !s.lapsed(p) {
		p.adopt(rec, version, p.renewedAt, true)
		return view, false, nil // already ours and fresh
	}
	// A lease this Store held and gave up (it lapsed) is re-acquired with a
	// new token and epoch, without waiting for it to expire (rule 5).
	mine := own || (p.dead != "" && rec.Token == p.dead)
	if rec.held() && !mine && !view.Expired && !steal {
		return Lease{}, false, fmt.Errorf("%w: %q is held by %q (epoch %d)", ErrLeaseHeld, id, rec.Owner, rec.Epoch)
	}
	p.drop()
	next := rec.clone()
	next.Owner, next.Token = s.owner, randomHex(16)
	if err := next.advance(s.key(id), true); err != nil {
		return Lease{}, false, err
	}
	next.Updated = s.wallNow()
	start := s.clock.Now()
	v, err := s.commit(ctx, id, &next, version)
	if err != nil {
		var lost *errWriteRefused
		if errors.As(err, &lost) {
			switch {
			case !lost.exists || lost.cur.Deleted:
				return Lease{}, false, fmt.Errorf("%w: %q was deleted while acquiring", ErrPartitionNotFound, id)
			case lost.cur.held() && steal && lost.cur.Token == rec.Token:
				return Lease{}, true, nil
			case lost.cur.held():
				return Lease{}, false, fmt.Errorf("%w: %q was taken by %q (epoch %d) first", ErrLeaseHeld, id, lost.cur.Owner, lost.cur.Epoch)
			}
			return Lease{}, false, fmt.Errorf("%w: %q changed while acquiring; retry", ErrLeaseHeld, id)
		}
		// Unknown outcome: if the write landed, the next attempt adopts it.
		p.pending, p.pendingStart = next.Token, start
		return Lease{}, false, err
	}
	p.adopt(next, v, start, true)
	return leaseOf(&next), false, nil
}

// lapsed reports rule 5: the owner's last successful write started more than a
// lease duration ago. The caller holds p.mu.
func (s *Store) lapsed(p *partition) bool {
	return s.clock.Now().Sub(p.renewedAt) >= s.leaseDur
}

// ownerWrite applies mutate to the partition's record as the lease's owner:
// one conditional write on the version this Store holds (rules 4 and 5).
// mutate must be idempotent: on a concurrent checkpoint deletion it is applied
// again on top of the newer record. It returns the record written.
func (s *Store) ownerWrite(ctx context.Context, lease Lease, op string, mutate func(*record)) (record, error) {
	id := lease.PartitionID
	if err := s.begin(id); err != nil {
		return record{}, err
	}
	p := s.part(id)
	if err := p.lock(ctx); err != nil {
		return record{}, err
	}
	defer p.unlock()
	return s.ownerWriteLocked(ctx, p, lease, op, mutate)
}

func (s *Store) ownerWriteLocked(ctx context.Context, p *partition, lease Lease, op string, mutate func(*record)) (record, error) {
	id := lease.PartitionID
	lostErr := func(why string) error {
		return fmt.Errorf("%w: %s %q: %s", ErrLeaseLost, op, id, why)
	}
	if lease.Token == "" {
		return record{}, fmt.Errorf("%w: %s %q: the lease value has no token (use one returned by Acquire or Steal)", ErrInvalidArgument, op, id)
	}
	// A lease is honoured only by the Store that acquired it: a token read
	// from a record is not a credential (rule 4).
	switch {
	case p.token == "":
		return record{}, lostErr("this store does not hold the lease (it was released, lost, or acquired through another store)")
	case p.token != lease.Token:
		return record{}, lostErr("superseded by a newer acquisition through this store")
	case s.lapsed(p):
		p.drop()
		return record{}, lostErr(fmt.Sprintf("not renewed within the lease duration (%v)", s.leaseDur))
	}
	base, version := p.rec, p.version
	if !p.known {
		// The last write's outcome was unknown: read once.
		rec, v, found, err := s.read(ctx, id)
		if err != nil {
			return record{}, err
		}
		if !found {
			p.drop()
			return record{}, lostErr("the partition's record is gone")
		}
		if rec.Token != lease.Token {
			p.drop()
			return record{}, lostErr(fmt.Sprintf("now held by %q (epoch %d)", rec.Owner, rec.Epoch))
		}
		base, version = rec, v
	}
	for attempt := 0; ; attempt++ {
		next := base.clone()
		mutate(&next)
		next.Counter = base.Counter
		if err := next.advance(s.key(id), false); err != nil {
			return record{}, err
		}
		next.Updated = s.wallNow()
		start := s.clock.Now()
		v, err := s.commit(ctx, id, &next, version)
		if err == nil {
			p.adopt(next, v, start, next.Token != "")
			return next, nil
		}
		var refused *errWriteRefused
		if !errors.As(err, &refused) {
			p.known = false // outcome unknown: read before the next write
			return record{}, err
		}
		if !refused.exists || refused.cur.Deleted {
			p.drop()
			return record{}, lostErr("the partition's record was deleted")
		}
		if refused.cur.Token != lease.Token {
			p.drop()
			return record{}, lostErr(fmt.Sprintf("now held by %q (epoch %d)", refused.cur.Owner, refused.cur.Epoch))
		}
		if attempt+1 >= maxAttempts {
			p.known = false
			return record{}, fmt.Errorf("%w: %s %q: the record kept changing under the same lease", ErrUnavailable, op, id)
		}
		// Same token: someone changed the checkpoint only. Write on top.
		base, version = refused.cur, refused.curVersion
	}
}

func (s *Store) wallNow() time.Time { return time.Now().UTC().Round(time.Millisecond) }

// Renew extends the lease. It costs one conditional write, or none when a
// write through this Store landed within the renew interval (every write
// renews; rule 6). It returns ErrLeaseLost if the lease was taken, released
// or lapsed, as far as this Store can know.
//
// A renewal that makes a request learns the truth from it. A skipped one
// makes none, so it can only answer from what this Store has seen: it
// returns ErrLeaseLost if the lease lapsed (rule 5) or a read through this
// Store since its last write showed another owner (GetLease, ListLeases),
// and nil otherwise. That nil promises that this Store's last write, less
// than RenewInterval ago, was made under the lease, and so that observers
// cannot yet see it as expired; it does not promise that no host stole the
// lease since. A steal is always caught by the next write (a checkpoint,
// or the next renewal that is due), which fails with ErrLeaseLost: fencing
// never depends on Renew.
func (s *Store) Renew(ctx context.Context, lease Lease) error {
	if err := s.begin(lease.PartitionID); err != nil {
		return err
	}
	p := s.part(lease.PartitionID)
	if err := p.lock(ctx); err != nil {
		return err
	}
	defer p.unlock()
	if p.token != "" && p.token == lease.Token && p.known {
		if since := s.clock.Now().Sub(p.renewedAt); since >= 0 && since < s.renewDur {
			return nil
		}
	}
	_, err := s.ownerWriteLocked(ctx, p, lease, "renew", func(*record) {})
	return err
}

// Release gives the lease up so another host can acquire it at once. The
// checkpoint and metadata stay. It costs one conditional write; it returns
// ErrLeaseLost if the lease was no longer the caller's.
func (s *Store) Release(ctx context.Context, lease Lease) error {
	_, err := s.ownerWrite(ctx, lease, "release", func(r *record) { r.Owner, r.Token = "", "" })
	return err
}

// UpdateLease stores the owner's metadata (at most MaxMetadataLen bytes) on
// the lease. It costs one conditional write and renews the lease.
func (s *Store) UpdateLease(ctx context.Context, lease Lease, metadata string) error {
	if len(metadata) > MaxMetadataLen {
		return fmt.Errorf("%w: metadata is %d bytes, over the limit of %d", ErrInvalidArgument, len(metadata), MaxMetadataLen)
	}
	if !utf8.ValidString(metadata) {
		// JSON would store U+FFFD in place of the bad bytes: silent corruption.
		return fmt.Errorf("%w: metadata is not valid UTF-8", ErrInvalidArgument)
	}
	_, err := s.ownerWrite(ctx, lease, "update lease", func(r *record) { r.Metadata = metadata })
	return err
}

// CreateLeaseIfNotExists creates the partition's record, free and with a
// checkpoint at StartOfStream, if it does not exist, and returns the lease
// either way.
func (s *Store) CreateLeaseIfNotExists(ctx context.Context, id string) (Lease, error) {
	if err := s.begin(id); err != nil {
		return Lease{}, err
	}
	p := s.part(id)
	if err := p.lock(ctx); err != nil {
		return Lease{}, err
	}
	defer p.unlock()
	rec, err := s.createLocked(ctx, p, id, false)
	if err != nil {
		return Lease{}, err
	}
	return s.observed(p, &rec), nil
}

// createLocked makes sure the partition has a record and, with
// needCheckpoint, a checkpoint, and returns the record. The caller holds p.mu.
func (s *Store) createLocked(ctx context.Context, p *partition, id string, needCheckpoint bool) (record, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		rec, version, exists, err := s.readRaw(ctx, id)
		if err != nil {
			return record{}, err
		}
		var next record
		switch {
		case !exists:
			if err := s.ensureStore(ctx); err != nil {
				return record{}, err
			}
			next = record{Schema: schemaVersion, Partition: id, Counter: 1,
				Checkpoint: &recordPosition{Offset: StartOfStream}}
			version = driver.CreateOnly
		case rec.Deleted:
			// Revive a tombstone; the epoch carries on so it never decreases.
			next = record{Schema: schemaVersion, Partition: id, Epoch: rec.Epoch, Counter: rec.Counter,
				Checkpoint: &recordPosition{Offset: StartOfStream}}
			if err := next.advance(s.key(id), false); err != nil {
				return record{}, err
			}
		case needCheckpoint && rec.Checkpoint == nil:
			next = rec.clone()
			next.Checkpoint = &recordPosition{Offset: StartOfStream}
			if err := next.advance(s.key(id), false); err != nil {
				return record{}, err
			}
		default:
			return rec, nil
		}
		next.Updated = s.wallNow()
		v, err := s.commit(ctx, id, &next, version)
		if err == nil {
			p.adopt(next, v, time.Time{}, false)
			return next, nil
		}
		var refused *errWriteRefused
		if !errors.As(err, &refused) {
			return record{}, err
		}
		// Someone else wrote first: read again and re-decide.
	}
	return record{}, fmt.Errorf("%w: create %q: the record kept changing", ErrUnavailable, id)
}

// GetLease returns the partition's lease. found is false, with a nil error,
// when the partition has no record.
func (s *Store) GetLease(ctx context.Context, id string) (lease Lease, found bool, err error) {
	if err := s.begin(id); err != nil {
		return Lease{}, false, err
	}
	p := s.part(id)
	if err := p.lock(ctx); err != nil {
		return Lease{}, false, err
	}
	defer p.unlock()
	rec, _, found, err := s.read(ctx, id)
	if err != nil {
		return Lease{}, false, err
	}
	if !found {
		return Lease{}, false, s.ensureStore(ctx)
	}
	return s.observed(p, &rec), true, nil
}

// DeleteLease deletes the partition's record: lease, checkpoint and metadata.
// It refuses with ErrLeaseHeld while another host holds a live lease (Steal
// first to force it); deleting a missing partition succeeds. A holder of the
// deleted lease gets ErrLeaseLost on its next write.
//
// The record is replaced by a tombstone with one conditional write, not
// removed: readers treat a tombstone as absent, and a partition re-created
// over it continues its epoch, so an epoch never repeats (a zombie of an
// earlier owner can never share an epoch with a new one). A physical delete
// could not be made safe where the provider ignores conditional deletes
// (MinIO, fake-gcs-server): a delayed delete would remove a re-created live
// lease.
func (s *Store) DeleteLease(ctx context.Context, id string) error {
	if err := s.begin(id); err != nil {
		return err
	}
	p := s.part(id)
	if err := p.lock(ctx); err != nil {
		return err
	}
	defer p.unlock()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		rec, version, found, err := s.read(ctx, id)
		if err != nil {
			return err
		}
		if !found {
			p.drop()
			return nil // missing, or already a tombstone
		}
		view := s.observed(p, &rec)
		if rec.held() && rec.Token != p.token && !view.Expired {
			return fmt.Errorf("%w: %q is held by %q (epoch %d); steal it before deleting", ErrLeaseHeld, id, rec.Owner, rec.Epoch)
		}
		tomb := rec.clone()
		tomb.Owner, tomb.Token, tomb.Checkpoint, tomb.Metadata, tomb.Deleted = "", "", nil, "", true
		if err := tomb.advance(s.key(id), false); err != nil {
			return err
		}
		tomb.Updated = s.wallNow()
		_, err = s.commit(ctx, id, &tomb, version)
		var refused *errWriteRefused
		if errors.As(err, &refused) {
			continue // it moved: decide again
		}
		if err != nil {
			return err
		}
		p.drop()
		return nil
	}
	return fmt.Errorf("%w: delete %q: the record kept changing", ErrUnavailable, id)
}

// ListLeases returns every partition's lease under the prefix, sorted by
// partition id: one listing, then reads of at most ListConcurrency records at
// a time. A partition deleted while listing is left out. It fails with
// ErrStoreNotFound if the store was not created, and with ErrCorrupt (naming
// the key) if a record cannot be read; ListLeasesSkippingCorrupt lists the
// rest instead.
func (s *Store) ListLeases(ctx context.Context) ([]Lease, error) {
	leases, corrupt, err := s.ListLeasesSkippingCorrupt(ctx)
	if err != nil {
		return nil, err
	}
	if len(corrupt) > 0 {
		return nil, corrupt[0]
	}
	return leases, nil
}

// ListLeasesSkippingCorrupt is ListLeases for callers that must carry on past
// a record they cannot read (a balancer, an operator's listing): it returns
// the readable leases and, separately, one error per unreadable record. err
// is non-nil only when the listing itself, or a read, failed.
func (s *Store) ListLeasesSkippingCorrupt(ctx context.Context) (leases []Lease, corrupt []*CorruptRecordError, err error) {
	if s.closed.Load() {
		return nil, nil, ErrClosed
	}
	ids, err := s.listKeys(ctx)
	if err != nil {
		return nil, nil, err
	}
	all := make([]Lease, len(ids))
	found := make([]bool, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, s.listConc)
	var wg sync.WaitGroup
	for i, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p := s.part(id)
			if !p.tryLock() {
				// An operation of ours on the partition is in flight (a
				// renewal that hangs, say): do not wait for it. Read the
				// record without taking part in this Store's bookkeeping,
				// and report it unexpired: a listing must not stall behind
				// one stuck partition.
				rec, _, ok, err := s.fetch(ctx, id)
				if err != nil {
					errs[i] = err
				} else if ok {
					all[i], found[i] = leaseOf(&rec), true
				}
				return
			}
			defer p.unlock()
			rec, _, ok, err := s.read(ctx, id)
			if err != nil {
				errs[i] = err
				return
			}
			if ok {
				all[i], found[i] = s.observed(p, &rec), true
			}
		})
	}
	wg.Wait()
	for i := range all {
		var ce *CorruptRecordError
		switch {
		case errs[i] == nil:
			if found[i] {
				leases = append(leases, all[i])
			}
		case errors.As(errs[i], &ce):
			corrupt = append(corrupt, ce)
		default:
			return nil, nil, errs[i] // the first, so exactly one sentinel is wrapped
		}
	}
	return leases, corrupt, nil
}

// Holds reports whether this Store holds lease and may act on it: it
// acquired it, has not lost or given it up, and its last successful write
// started less than a lease duration ago (rule 5). It makes no request and
// never waits: while an operation on the partition is in flight (a renewal
// that hangs, say), it judges from the last write that succeeded, so a lease
// lapses on time however long a request hangs. A processor checks it before
// handing out more work.
func (s *Store) Holds(lease Lease) bool { return s.Remaining(lease) > 0 }

// Remaining returns how much longer this Store may act on lease by rule 5:
// the lease duration less the time since its last successful write started,
// or zero when it does not hold the lease (never acquired here, lost,
// released, lapsed). Like Holds it makes no request and never waits.
func (s *Store) Remaining(lease Lease) time.Duration {
	if lease.Token == "" || ValidatePartitionID(lease.PartitionID) != nil {
		return 0
	}
	h := s.part(lease.PartitionID).held.Load()
	if h.token != lease.Token {
		return 0
	}
	return max(0, s.leaseDur-s.clock.Now().Sub(h.renewedAt))
}

// Forget makes this Store stop acting as the owner of lease without writing
// anything: writes under it fail with ErrLeaseLost, and a later Acquire takes
// the partition with a new token and epoch. Use it when a handover could not
// be written (its release failed): the lease then expires for the others.
func (s *Store) Forget(lease Lease) {
	if lease.Token == "" || ValidatePartitionID(lease.PartitionID) != nil {
		return
	}
	p := s.part(lease.PartitionID)
	p.lockForever()
	defer p.unlock()
	if p.token == lease.Token {
		p.drop()
	}
}

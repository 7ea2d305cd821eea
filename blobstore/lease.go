package blobstore

// The lease rules, all in this file.
//
//  1. Every state change is one conditional write (commit): create-only, or
//     compare-and-swap on the version this Store last saw. Nothing is ever
//     written unconditionally.
//  2. A lease is free when its record names no owner, or when it has expired:
//     this Store has seen the record's version unchanged for a whole lease
//     duration by its own clock, and the owner's presence record (rule 7)
//     renews nothing either: the lease names no presence incarnation, or
//     that incarnation's record is fenced, or it too stood unchanged (or
//     missing) for a lease duration. No other
//     host's clock is ever read. Versions are judged from listings, which
//     carry them; a record is read only when its version is new.
//  3. Acquiring bumps the epoch and draws a new random token. Every write bumps
//     the counter, so every write's bytes (and so its version) differ.
//  4. An owner writes with the version its own last write returned: one
//     request, no read. If the version moved, it reads once: the same token
//     means someone changed only the checkpoint (DeleteCheckpoint), so it
//     retries on top of that; any other token means the lease was lost.
//  5. An owner whose last renewal started more than a lease duration ago
//     stops acting as owner: its writes fail with ErrLeaseLost without a
//     request, because observers may already have taken over. A renewal is
//     a successful write of the lease's record, or a heartbeat that renews it
//     (rule 7); the time counts from the request's start.
//  6. Renew skips its request when a renewal landed within the renew
//     interval.
//  7. A heartbeat (one write of the host's presence record) renews every
//     lease whose last write through its Store named its incarnation,
//     written while that incarnation stood established: a
//     heartbeat of the same incarnation had landed, and nothing revoked it
//     since. The lease's record names that incarnation. A presence record
//     found fenced, removed or overwritten revokes at once: no later
//     heartbeat renews a lease acquired before, and neither does the last
//     one. Leave ends the incarnation: its last heartbeat still counts.
//  8. An observer that finds a held lease's record and its owner's presence
//     both unchanged for a lease duration fences the presence record before
//     taking the lease: a compare-and-swap on the version it saw, to a record
//     marked fenced. A heartbeat in flight then fails and renews nothing
//     (rule 7); if the heartbeat landed first, the fence fails and the owner
//     is alive. Fencing of writes stays on the partition record: epochs and
//     compare-and-swap, so two owners never share an epoch, and a zombie's
//     write always fails.
//  9. Lease.Version names the record's version and the version of the
//     presence record that renews it, as a listing showed it (or that it
//     renews nothing, or that it is unknown). A take at a Version (Take
//     with IfVersion, for a balancer that decides for itself) reads the
//     record, fences that presence record at the version seen, live or not
//     (a fence found in place counts only if it replaced that version),
//     then compare-and-swaps the record at the version seen: a write of the
//     record, or a heartbeat, since the Version was seen makes it fail with
//     ErrLeaseHeld, and of a heartbeat and a take racing on one Version
//     exactly one lands. A Version that does not know the presence is
//     refused. The fenced host's other leases lose the heartbeat's renewal
//     (rule 7); its next write of each (Confirm) renews them, or revives
//     them if they lapsed meanwhile and nobody wrote their record.

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
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
	// Version changes whenever the lease changes or is renewed: at every
	// write of its record, and at every heartbeat of the presence record
	// that renews it (rule 7). It is opaque. TakeOptions.IfVersion takes
	// the lease only if it is still the same: its owner has not renewed it
	// since it was seen.
	Version string
	// Checkpoint is the stored position, or nil when there is none.
	Checkpoint *Checkpoint
	// Metadata is the owner's opaque metadata (UpdateLease).
	Metadata string
	// UpdatedAt is the writer's wall-clock time of the last write.
	// Informational only: expiry never uses it.
	UpdatedAt time.Time
	// ModifiedAt is when the store last wrote the record, by the store's
	// own clock, as the listing that returned the lease showed it (Scan,
	// ListLeases); zero otherwise, or when the provider's listing does not
	// say. Informational only: expiry never uses it.
	ModifiedAt time.Time
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
		l.Checkpoint = rec.Checkpoint.checkpoint(rec.Partition)
	}
	return l
}

// leaseVersion is Lease.Version of rec stored at recVersion: that version
// and the version of the presence record that renews it, as this Store
// knows them.
func (s *Store) leaseVersion(rec *record, recVersion string) string {
	presence := ""
	if rec.held() && rec.Presence != "" {
		presence = s.presenceVersion(rec.Owner, rec.Presence)
	}
	return versionToken{record: recVersion, presence: presence}.String()
}

// versioned is the lease view of rec stored at recVersion, with its Version.
func (s *Store) versioned(rec *record, recVersion string) Lease {
	l := leaseOf(rec)
	l.Version = s.leaseVersion(rec, recVersion)
	return l
}

// versionToken is Lease.Version unpacked.
type versionToken struct{ record, presence string }

func (v versionToken) String() string {
	if v.record == "" {
		return ""
	}
	return fmt.Sprintf("%d:%s%s", len(v.record), v.record, v.presence)
}

func parseVersion(s string) (versionToken, bool) {
	n, rest, ok := strings.Cut(s, ":")
	if !ok {
		return versionToken{}, false
	}
	k, err := strconv.Atoi(n)
	if err != nil || k <= 0 || k > len(rest) {
		return versionToken{}, false
	}
	return versionToken{record: rest[:k], presence: rest[k:]}, true
}

// observe records a sighting of the record at version (rule 2) and reports
// how long that version has been seen unchanged, and whether that makes a
// held lease expired as far as the record goes. The caller holds p.mu.
func (s *Store) observe(p *partition, rec *record, version string) (unchanged time.Duration, expired bool) {
	now := s.clock.Now()
	if p.obsSince.IsZero() || version != p.obsVersion {
		p.obsVersion, p.obsSince = version, now
		return 0, false
	}
	unchanged = now.Sub(p.obsSince)
	return unchanged, rec.held() && unchanged >= s.leaseDur
}

// observed returns the lease view of rec, read or listed at version, with
// the observation applied. A held lease whose record stood still is expired
// only if its owner's presence renews nothing either (rule 2); when this
// Store's knowledge of that presence predates the record's sighting, it is
// read first (one request, and only for such a lease). The caller holds p.mu.
func (s *Store) observed(ctx context.Context, p *partition, rec *record, version string) Lease {
	stale := p.known && rec.Counter < p.rec.Counter // older than our own write: a store that lost writes
	if p.token != "" && rec.Token != p.token && !stale {
		// A read made under the partition's lock, after our last write,
		// names another token (or none): the lease was taken, released or
		// fenced since. Stop acting as its owner now rather than at the
		// next write (Renew's skipped request, Holds).
		p.drop()
	}
	l := s.versioned(rec, version)
	l.UnchangedFor, l.Expired = s.observe(p, rec, version)
	if p.token != "" && p.token == rec.Token {
		l.Expired = false // our own lease: its freshness is rule 5's business
	}
	if l.Expired {
		l.Expired, _ = s.ownerSilentNow(ctx, rec.Owner, rec.Presence, p.obsSince)
	}
	return l
}

// ownerSilentNow is ownerSilent backed by a read of the presence record when
// this Store's knowledge of it is older than asOf. A read that fails leaves
// the owner alive.
func (s *Store) ownerSilentNow(ctx context.Context, owner, incarnation string, asOf time.Time) (silent bool, fenceVersion string) {
	silent, fenceVersion, fresh := s.ownerSilent(owner, incarnation, asOf)
	if fresh {
		return silent, fenceVersion
	}
	if err := s.refreshOwner(ctx, owner, incarnation); err != nil {
		return false, ""
	}
	silent, fenceVersion, _ = s.ownerSilent(owner, incarnation, asOf)
	return silent, fenceVersion
}

// lastRenewal returns the start of the lease's last renewal: its owner's last
// successful write, or a later heartbeat that renews it (rules 5 and 7). The
// caller holds p.mu.
func (s *Store) lastRenewal(p *partition) time.Time {
	last := p.renewedAt
	if hb := s.presence.heartbeatRenewal(p.rec.Presence); p.token != "" && p.rec.Token == p.token && hb.After(last) {
		last = hb
	}
	return last
}

// adopt records a successful write made through this Store. The caller holds
// p.mu.
func (p *partition) adopt(rec record, version string, start time.Time, owned bool) {
	p.rec, p.version, p.known = rec, version, true
	p.remember(rec, version, nil, start)
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

// locked validates id and returns its partition state, locked: the caller
// unlocks it.
func (s *Store) locked(ctx context.Context, id string) (*partition, error) {
	if err := s.begin(id); err != nil {
		return nil, err
	}
	p := s.part(id)
	if err := p.lock(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// Acquire takes the partition's lease if it is free: unowned, released, or
// expired by this Store's observation (a lease is seen as expired only after
// two sightings at least a lease duration apart that find the same write). It
// costs one conditional write, plus one read unless a listing or a read
// through this Store saw the record within the renew interval (the write is a
// compare-and-swap on what was seen, so a record that moved since is read
// again, not overwritten). It returns ErrLeaseHeld if a live
// owner holds the lease or another host won the race for it, and
// ErrPartitionNotFound if the partition has no record.
//
// Acquiring a lease this Store already holds returns it unchanged.
func (s *Store) Acquire(ctx context.Context, id string) (Lease, error) {
	return s.acquire(ctx, id, false, "")
}

// Steal takes the partition's lease whatever its state: the previous owner's
// next write fails with ErrLeaseLost. Use it to rebalance.
//
// A steal is a read and a conditional write; it retries, with jitter, when
// the owner writes in between. An owner that writes more often than once per
// two storage round trips cannot be stolen from: after a bounded number of
// attempts Steal returns ErrLeaseHeld, and a balancer tries again later.
func (s *Store) Steal(ctx context.Context, id string) (Lease, error) {
	return s.acquire(ctx, id, true, "")
}

// TakeOptions make Take conditional. A nil *TakeOptions takes the lease
// whatever its state, as Steal does.
type TakeOptions struct {
	// IfVersion takes the lease only if its Version is still this one:
	// neither its record (a checkpoint, a renewal) nor the presence record
	// that renews it (a heartbeat) was written since (rule 9). Of hosts
	// that saw the same Version and take the lease at once, exactly one
	// succeeds, and of a take and the owner's heartbeat, exactly one lands.
	// A refused take wrote nothing to the partition's record; when the
	// owner renews by heartbeats, a take refused after it fenced the
	// owner's presence record leaves the fence, and the owner renews its
	// leases with a write each at its next renewal (Confirm). A Version
	// that does not show the state of that presence record (one from a
	// read, not a listing) is refused.
	IfVersion string
	// Create makes the partition's record, held by this Store and without
	// a checkpoint, if the partition has none. With an empty IfVersion the
	// take is then create-only: a partition that has a record is refused
	// with ErrLeaseHeld.
	Create bool
}

// Take takes the partition's lease for a balancer that decides for itself
// which leases to take and when (the Event Hubs Processor's load balancer
// does): unlike Acquire it does not wait for the lease to expire, and unlike
// Steal it can be made conditional on the version the balancer saw. The
// previous owner's next write fails with ErrLeaseLost, as after a Steal.
// A take at a Version costs one read and one conditional write, and one
// more write (the fence) when the owner renews the lease by heartbeats; a
// create-only take one read and one write. Taking a lease this Store
// already holds returns it unchanged.
func (s *Store) Take(ctx context.Context, id string, opts *TakeOptions) (Lease, error) {
	var o TakeOptions
	if opts != nil {
		o = *opts
	}
	if o.Create && o.IfVersion == "" {
		p, err := s.locked(ctx, id)
		if err != nil {
			return Lease{}, err
		}
		defer p.unlock()
		return s.createOwned(ctx, p, id)
	}
	return s.acquire(ctx, id, true, o.IfVersion)
}

// createOwned creates the partition's record held by this Store, without a
// checkpoint: one create-only write (or a write over a tombstone, whose
// epoch carries on). The caller holds p's lock.
func (s *Store) createOwned(ctx context.Context, p *partition, id string) (Lease, error) {
	rec, version, exists, err := s.readRaw(ctx, id)
	if err != nil {
		return Lease{}, err
	}
	if exists && !rec.Deleted {
		if p.pending != "" && rec.Token == p.pending {
			// An earlier create whose outcome was unknown did land.
			p.adopt(rec, version, p.pendingStart, true)
			p.pending = ""
			return s.versioned(&rec, version), nil
		}
		return Lease{}, fmt.Errorf("%w: %q already has a record (owner %q, epoch %d)", ErrLeaseHeld, id, rec.Owner, rec.Epoch)
	}
	next := record{Schema: schemaVersion, Partition: id}
	if exists {
		next.Epoch, next.Counter = rec.Epoch, rec.Counter // a tombstone: its epoch carries on
	} else {
		if err := s.ensureStore(ctx); err != nil {
			return Lease{}, err
		}
		version = driver.CreateOnly
	}
	p.drop()
	next.Owner, next.Token = s.owner, randomHex(16)
	next.Presence = s.presence.cover()
	if err := next.advance(s.key(id), true); err != nil {
		return Lease{}, err
	}
	next.Updated = s.wallNow()
	start := s.clock.Now()
	v, err := s.commit(ctx, id, &next, version)
	if err != nil {
		var refused *errWriteRefused
		if errors.As(err, &refused) {
			return Lease{}, fmt.Errorf("%w: %q was created by another host first", ErrLeaseHeld, id)
		}
		p.pending, p.pendingStart = next.Token, start
		return Lease{}, err
	}
	p.pending = ""
	p.adopt(next, v, start, true)
	return s.versioned(&next, v), nil
}

func (s *Store) acquire(ctx context.Context, id string, steal bool, ifVersion string) (Lease, error) {
	p, err := s.locked(ctx, id)
	if err != nil {
		return Lease{}, err
	}
	defer p.unlock()

	for attempt := 1; ; attempt++ {
		l, retry, err := s.tryAcquire(ctx, p, id, steal, ifVersion)
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

// wouldWrite reports whether tryAcquire, given rec, would write: the lease is
// free, expired by this Store's observation, one this Store gave up, or
// being stolen, and is not already this Store's. It changes nothing. The
// caller holds p's lock.
func (s *Store) wouldWrite(p *partition, rec *record, steal bool) bool {
	if p.token != "" && p.token == rec.Token && !s.lapsed(p) {
		return false
	}
	if steal || !rec.held() || (p.dead != "" && rec.Token == p.dead) || rec.Token == p.token {
		return true
	}
	seen := !p.obsSince.IsZero() && p.obsVersion == p.seenVersion
	return seen && s.clock.Now().Sub(p.obsSince) >= s.leaseDur
}

// current returns the partition's record for a decision to write: the one
// this Store last read or wrote, when a listing or a read confirmed it is
// current within the renew interval (cached is then true, and no request is
// made), else a fresh read. A decision made on a cached record is safe: the
// write it leads to is a compare-and-swap on that record's version, which
// fails if anything was written since. The caller holds p's lock.
func (s *Store) current(ctx context.Context, p *partition, id string) (rec record, version string, found, cached bool, err error) {
	if p.pending == "" && p.seenVersion != "" && p.seenCorrupt == nil && !p.seen.Deleted && !p.seenAt.IsZero() {
		if age := s.clock.Now().Sub(p.seenAt); age >= 0 && age < s.renewDur {
			return p.seen, p.seenVersion, true, true, nil
		}
	}
	rec, version, found, err = s.read(ctx, id)
	return rec, version, found, false, err
}

// tryAcquire makes one attempt: one read, at most one write. retry asks for
// another attempt: a Steal that lost to a write by the very owner it meant to
// take the lease from. The caller holds p.mu.
func (s *Store) tryAcquire(ctx context.Context, p *partition, id string, steal bool, ifVersion string) (_ Lease, retry bool, _ error) {
	want, conditional := parseVersion(ifVersion)
	if ifVersion != "" && !conditional {
		return Lease{}, false, fmt.Errorf("%w: %q is not a lease version", ErrInvalidArgument, ifVersion)
	}
	rec, version, found, cached, err := s.current(ctx, p, id)
	if err == nil && cached && (!s.wouldWrite(p, &rec, steal) || conditional) {
		// Only a write validates what was seen: a refusal or a "still
		// ours" is decided on a fresh read, and so is a take at a Version,
		// which may fence before it writes.
		cached = false
		rec, version, found, err = s.read(ctx, id)
	}
	if err != nil {
		return Lease{}, false, err
	}
	if !found {
		return Lease{}, false, fmt.Errorf("%w: %q (create it first)", ErrPartitionNotFound, id)
	}
	view := s.observed(ctx, p, &rec, version)
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
	if conditional && version != want.record {
		return Lease{}, false, fmt.Errorf("%w: %q was written since it was seen (owner %q, epoch %d)", ErrLeaseHeld, id, rec.Owner, rec.Epoch)
	}
	if rec.held() && !mine && !view.Expired && !steal {
		return Lease{}, false, fmt.Errorf("%w: %q is held by %q (epoch %d)", ErrLeaseHeld, id, rec.Owner, rec.Epoch)
	}
	if rec.held() && !mine && !steal {
		// Expired: the record stood still, and so did its owner's presence,
		// unless it is missing or fenced. Fence a presence that merely
		// stood still, so a heartbeat in flight renews nothing (rule 8).
		if _, fenceVersion := s.ownerSilentNow(ctx, rec.Owner, rec.Presence, p.obsSince); fenceVersion != "" {
			if err := s.fence(ctx, rec.Owner, rec.Presence, fenceVersion); err != nil {
				return Lease{}, false, fmt.Errorf("acquire %q: %w", id, err)
			}
		}
	}
	if conditional && rec.held() && !mine && rec.Presence != "" {
		// The owner renews this lease by heartbeats: a heartbeat since it
		// was seen is a renewal, and one racing this take must not both
		// succeed. Fence the presence record at the version seen (rule 9):
		// exactly one of the fence and the heartbeat lands.
		switch want.presence {
		case presenceSilent:
			// Fenced or removed when seen: no heartbeat renews it.
		case "", presenceUnknown:
			return Lease{}, false, fmt.Errorf("%w: %q: the version does not show the presence record that renews the lease (list the group, then take)", ErrLeaseHeld, id)
		default:
			if err := s.fence(ctx, rec.Owner, rec.Presence, want.presence); err != nil && !errors.Is(err, errHostLeft) {
				return Lease{}, false, fmt.Errorf("take %q: %w", id, err)
			}
		}
	}
	p.drop()
	next := rec.clone()
	next.Owner, next.Token = s.owner, randomHex(16)
	// Before the write: a revocation after this must win (rule 7).
	next.Presence = s.presence.cover()
	if err := next.advance(s.key(id), true); err != nil {
		return Lease{}, false, err
	}
	next.Updated = s.wallNow()
	start := s.clock.Now()
	v, err := s.commit(ctx, id, &next, version)
	if err != nil {
		var lost *errWriteRefused
		if errors.As(err, &lost) {
			if cached {
				// The record moved since this Store last saw it: decide
				// again on a fresh read.
				p.seenAt = time.Time{}
				return Lease{}, true, nil
			}
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
	return s.versioned(&next, v), false, nil
}

// lapsed reports rule 5: the owner's last renewal started more than a lease
// duration ago. The caller holds p.mu.
func (s *Store) lapsed(p *partition) bool {
	return s.clock.Now().Sub(s.lastRenewal(p)) >= s.leaseDur
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
	return s.ownerWriteLocked(ctx, p, lease, op, mutate, false)
}

// With revive, a lapsed lease (rule 5) is not given up at once: the write,
// a compare-and-swap on the version this Store last wrote, succeeds only if
// nobody wrote the record since, so nobody took over in between, and the
// lease is the caller's again (Confirm).
func (s *Store) ownerWriteLocked(ctx context.Context, p *partition, lease Lease, op string, mutate func(*record), revive bool) (record, error) {
	id := lease.PartitionID
	lostErr := func(cause LossCause, why string) error {
		return &LeaseLostError{PartitionID: id, Op: op, Cause: cause, Reason: why}
	}
	// lostTo reports the record that replaced the lease: another owner's,
	// or one freed by another writer.
	lostTo := func(cur record) error {
		if cur.Owner == "" {
			return lostErr(LossFenced, fmt.Sprintf("freed by another writer (epoch %d): an operator's forced edit or release, or a later owner that has let it go", cur.Epoch))
		}
		return &LeaseLostError{PartitionID: id, Op: op, Cause: LossTaken, Owner: cur.Owner, Epoch: cur.Epoch,
			Reason: fmt.Sprintf("now held by %q (epoch %d)", cur.Owner, cur.Epoch)}
	}
	if lease.Token == "" {
		return record{}, fmt.Errorf("%w: %s %q: the lease value has no token (use one returned by Acquire or Steal)", ErrInvalidArgument, op, id)
	}
	// A lease is honoured only by the Store that acquired it: a token read
	// from a record is not a credential (rule 4).
	switch {
	case p.token == "":
		return record{}, lostErr(LossNotHeld, "this store does not hold the lease (it was released, lost, or acquired through another store)")
	case p.token != lease.Token:
		return record{}, lostErr(LossNotHeld, "superseded by a newer acquisition through this store")
	case s.lapsed(p) && (!revive || !p.known):
		p.drop()
		return record{}, lostErr(LossLapsed, fmt.Sprintf("not renewed within the lease duration (%v)", s.leaseDur))
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
			return record{}, lostErr(LossFenced, "the partition's record is gone: deleted by another writer")
		}
		if rec.Token != lease.Token {
			p.drop()
			return record{}, lostTo(rec)
		}
		base, version = rec, v
	}
	for attempt := 0; ; attempt++ {
		next := base.clone()
		mutate(&next)
		if next.held() {
			// Every owner write names the presence incarnation that renews
			// the lease from now on: after a revocation (rule 7), the
			// lease's next write puts it back under the heartbeats.
			if inc := s.presence.cover(); inc != "" {
				next.Presence = inc
			}
		}
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
			return record{}, lostErr(LossFenced, "the partition's record was deleted by another writer")
		}
		if refused.cur.Token != lease.Token {
			p.drop()
			return record{}, lostTo(refused.cur)
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
		if since := s.clock.Now().Sub(s.lastRenewal(p)); since >= 0 && since < s.renewDur {
			return nil
		}
	}
	_, err := s.ownerWriteLocked(ctx, p, lease, "renew", func(*record) {}, false)
	return err
}

// Confirm makes sure the lease was renewed at or after since, by this
// Store's clock (Store.Clock): when its last renewal (a write of its record,
// or a heartbeat that renews it; rules 5 and 7) started at or after since,
// it makes no request; otherwise it writes the record, one conditional
// write. It returns the lease as this Store now holds it, with its current
// Version, or ErrLeaseLost when the lease is no longer the caller's. A
// lease that lapsed (rule 5: its heartbeats stopped renewing it, after a
// fence, say) is revived by that write when nobody wrote the record since:
// the compare-and-swap on the version this Store last wrote proves nobody
// took over.
//
// A balancer that renews every lease it holds each round, and lets others
// take a lease at the Version they saw (the Event Hubs Processor does),
// heartbeats and then confirms each lease since the heartbeat's start: the
// leases the heartbeat renewed cost nothing more, and every renewal is a
// compare-and-swap that a Take at an earlier Version cannot also win.
func (s *Store) Confirm(ctx context.Context, lease Lease, since time.Time) (Lease, error) {
	p, err := s.locked(ctx, lease.PartitionID)
	if err != nil {
		return Lease{}, err
	}
	defer p.unlock()
	// A heartbeat that renews the lease and started at since counts (it was
	// sent after since was read); a write of the record must have started
	// strictly later, so a write made just before, on a coarse clock, does
	// not.
	hb := s.presence.heartbeatRenewal(p.rec.Presence)
	renewed := p.renewedAt.After(since) || (p.rec.Token == p.token && !hb.IsZero() && !hb.Before(since))
	if p.token != "" && p.token == lease.Token && p.known && !s.lapsed(p) && renewed {
		return s.versioned(&p.rec, p.version), nil
	}
	rec, err := s.ownerWriteLocked(ctx, p, lease, "renew", func(*record) {}, true)
	if err != nil {
		return Lease{}, err
	}
	return s.versioned(&rec, p.version), nil
}

// Release gives the lease up so another host can acquire it at once. The
// checkpoint and metadata stay. It costs one conditional write; it returns
// ErrLeaseLost if the lease was no longer the caller's.
func (s *Store) Release(ctx context.Context, lease Lease) error {
	_, err := s.ownerWrite(ctx, lease, "release", func(r *record) { r.Owner, r.Token, r.Presence = "", "", "" })
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
	p, err := s.locked(ctx, id)
	if err != nil {
		return Lease{}, err
	}
	defer p.unlock()
	rec, err := s.createLocked(ctx, p, id, false)
	if err != nil {
		return Lease{}, err
	}
	return s.observed(ctx, p, &rec, p.seenVersion), nil
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
				Checkpoint: freshPosition()}
			version = driver.CreateOnly
		case rec.Deleted:
			// Revive a tombstone; the epoch carries on so it never decreases.
			next = record{Schema: schemaVersion, Partition: id, Epoch: rec.Epoch, Counter: rec.Counter,
				Checkpoint: freshPosition()}
			if err := next.advance(s.key(id), false); err != nil {
				return record{}, err
			}
		case needCheckpoint && rec.Checkpoint == nil:
			next = rec.clone()
			next.Checkpoint = freshPosition()
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
	rec, version, found, err := s.read(ctx, id)
	if err != nil {
		return Lease{}, false, err
	}
	if !found {
		return Lease{}, false, s.ensureStore(ctx)
	}
	return s.observed(ctx, p, &rec, version), true, nil
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
		view := s.observed(ctx, p, &rec, version)
		if rec.held() && rec.Token != p.token && !view.Expired {
			return fmt.Errorf("%w: %q is held by %q (epoch %d); steal it before deleting", ErrLeaseHeld, id, rec.Owner, rec.Epoch)
		}
		tomb := rec.clone()
		tomb.Owner, tomb.Token, tomb.Presence, tomb.Checkpoint, tomb.Metadata, tomb.Deleted = "", "", "", nil, "", true
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
// a time, of the records whose listed version this Store has not seen. A partition deleted while listing is left out. It fails with
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
// a record they cannot read (an operator's listing): it returns the readable
// leases and, separately, one error per unreadable record. err is non-nil
// only when the listing itself, or a read, failed.
//
// It costs one listing (one request per page of keys) plus one read per
// record whose version this Store has not read or written before: listings
// carry each object's version, and a version's bytes never change.
func (s *Store) ListLeasesSkippingCorrupt(ctx context.Context) (leases []Lease, corrupt []*CorruptRecordError, err error) {
	if s.closed.Load() {
		return nil, nil, ErrClosed
	}
	l, err := s.list(ctx)
	if err != nil {
		return nil, nil, err
	}
	// Hosts first: a lease's expiry depends on its owner's presence. A
	// presence record that cannot be read is read again per lease if needed.
	_, _ = s.hostsOf(ctx, l.hosts, false)
	leases, corrupt, failed := s.leasesOf(ctx, l.parts, true)
	for _, e := range l.parts {
		if err := failed[e.Key]; err != nil {
			return nil, nil, err // the first, so exactly one sentinel is wrapped
		}
	}
	return leases, corrupt, nil
}

// Snapshot is the group's state as one listing of the store showed it.
type Snapshot struct {
	// Leases are the readable partition records, sorted by partition id.
	Leases []Lease
	// Corrupt has one error per record that cannot be decoded.
	Corrupt []*CorruptRecordError
	// Failed maps the id of each partition whose record could not be read
	// this time (an outage, a timeout) to the error. Those partitions are in
	// neither Leases nor Corrupt.
	Failed map[string]error
	// Hosts are the hosts with a presence record, sorted by name, with this
	// Store's observation of their liveness. Their UpdatedAt is not read.
	Hosts []Host
}

// Scan is what a balancer needs each cycle, at the least cost: one listing
// of the store's prefix (partitions and hosts together; one request per
// page of keys), and a read only of each partition record whose version this
// Store has not read or written before and that can change the balance (see
// ScanOptions). A host's liveness is judged from the
// version of its presence record, which is never read except once to learn
// a long host name. One record that cannot be read never fails the scan: it
// is reported in Corrupt or Failed and the rest are returned. err is non-nil
// only when the listing fails.
func (s *Store) Scan(ctx context.Context, opts *ScanOptions) (Snapshot, error) {
	if s.closed.Load() {
		return Snapshot{}, ErrClosed
	}
	l, err := s.list(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	var snap Snapshot
	// Hosts first: a lease's expiry depends on its owner's presence, as
	// this very listing shows it.
	snap.Hosts, err = s.hostsOf(ctx, l.hosts, false)
	if err != nil {
		return Snapshot{}, err
	}
	readChanged := opts != nil && opts.ReadChanged
	snap.Leases, snap.Corrupt, snap.Failed = s.leasesOf(ctx, l.parts, readChanged)
	return snap, nil
}

// ScanOptions tune Scan. A nil *ScanOptions means the defaults.
type ScanOptions struct {
	// ReadChanged reads every record whose version changed. By default a
	// record that changed while held by another host is not read: the
	// change proves the lease alive, and its owner writes it to checkpoint,
	// so the Store reports it with the owner it last read (and UnchangedFor
	// zero). A balancer asks for ReadChanged when its view may be out of
	// date: when it, or a host it sees, is short of its fair share, or the
	// hosts changed.
	ReadChanged bool
}

// leasesOf returns the leases of the listed partitions, reading (at most
// ListConcurrency at a time) only the records whose listed version this
// Store does not know. A partition deleted since the listing is left out.
func (s *Store) leasesOf(ctx context.Context, entries []driver.Entry, readChanged bool) (leases []Lease, corrupt []*CorruptRecordError, failed map[string]error) {
	all := make([]Lease, len(entries))
	found := make([]bool, len(entries))
	errs := make([]error, len(entries))
	sem := make(chan struct{}, s.listConc)
	var wg sync.WaitGroup
	for i, e := range entries {
		p := s.part(e.Key)
		if p.tryLock() {
			switch {
			case e.Version != "" && e.Version == p.seenVersion:
				// Known bytes: no request.
				all[i], found[i], errs[i] = s.leaseFromCache(ctx, p)
				p.unlock()
				continue
			case !readChanged && s.othersAlive(p) && !s.stillFor(p, e.Version, s.leaseDur):
				// Another host's lease, written since: alive, and most
				// likely a checkpoint. Not read (see ScanOptions).
				all[i], found[i] = s.changedUnread(p, e.Version), true
				p.unlock()
				continue
			}
			p.unlock()
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			all[i], found[i], errs[i] = s.leaseAt(ctx, p, e.Key, e.Version)
		})
	}
	wg.Wait()
	for i := range all {
		var ce *CorruptRecordError
		switch {
		case errs[i] == nil:
			if found[i] {
				all[i].ModifiedAt = entries[i].Modified
				leases = append(leases, all[i])
			}
		case errors.As(errs[i], &ce):
			corrupt = append(corrupt, ce)
		default:
			if failed == nil {
				failed = map[string]error{}
			}
			failed[entries[i].Key] = errs[i]
		}
	}
	return leases, corrupt, failed
}

// othersAlive reports whether the record this Store last saw at the
// partition is a lease held by another host whose presence record is still
// listed and not fenced: a change to it is that host's checkpoint, or a
// handover it also shows by leaving. The caller holds p's lock.
func (s *Store) othersAlive(p *partition) bool {
	rec := &p.seen
	return p.seenVersion != "" && p.seenCorrupt == nil && !rec.Deleted && rec.held() &&
		rec.Owner != s.owner && p.token == "" && (p.dead == "" || rec.Token != p.dead) &&
		s.presenceLive(rec.Owner, rec.Presence)
}

// stillFor reports whether this Store has observed the partition's record at
// version for at least d. The caller holds p's lock.
func (s *Store) stillFor(p *partition, version string, d time.Duration) bool {
	return !p.obsSince.IsZero() && p.obsVersion == version && s.clock.Now().Sub(p.obsSince) >= d
}

// changedUnread is the lease view of a record listed at a version this
// Store has not read: the owner it last read, seen writing just now. The
// caller holds p's lock.
func (s *Store) changedUnread(p *partition, version string) Lease {
	l := s.versioned(&p.seen, version)
	l.UnchangedFor, _ = s.observe(p, &p.seen, version)
	// Not expired: it changed less than a lease duration ago (a record
	// that stands still for one is read).
	p.seenAt = time.Time{} // the cached bytes are not current: never decide on them
	return l
}

// leaseFromCache returns the lease of the record this Store last read or
// wrote at the partition, observed now. The caller holds p's lock.
func (s *Store) leaseFromCache(ctx context.Context, p *partition) (Lease, bool, error) {
	p.seenAt = s.clock.Now()
	switch {
	case p.seenCorrupt != nil:
		return Lease{}, false, p.seenCorrupt
	case p.seen.Deleted:
		return Lease{}, false, nil
	}
	rec := p.seen
	return s.observed(ctx, p, &rec, p.seenVersion), true, nil
}

// leaseAt returns the partition's lease as a listing showed it at version:
// from this Store's cache when it holds that version, else from a read.
func (s *Store) leaseAt(ctx context.Context, p *partition, id, version string) (Lease, bool, error) {
	if !p.tryLock() {
		// An operation of ours on the partition is in flight (a renewal
		// that hangs, say): do not wait for it. Read the record without
		// taking part in this Store's bookkeeping, and report it unexpired:
		// a listing must not stall behind one stuck partition.
		rec, v, ok, err := s.fetch(ctx, id)
		if err != nil || !ok {
			return Lease{}, false, err
		}
		return s.versioned(&rec, v), true, nil
	}
	defer p.unlock()
	if version != "" && version == p.seenVersion {
		return s.leaseFromCache(ctx, p)
	}
	rec, version, ok, err := s.read(ctx, id)
	if err != nil || !ok {
		return Lease{}, false, err
	}
	return s.observed(ctx, p, &rec, version), true, nil
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
	last := h.renewedAt
	if hb := s.presence.heartbeatRenewal(h.presence); hb.After(last) {
		last = hb
	}
	return max(0, s.leaseDur-s.clock.Now().Sub(last))
}

// Forget makes this Store stop acting as the owner of lease without writing
// anything: writes under it fail with ErrLeaseLost, and a later Acquire
// through this Store takes the partition at once, with a new token and epoch.
// Use it when a handover could not be written (its release failed). For the
// others the lease expires like any other: once its record stood still for a
// lease duration and so did, or was fenced, the presence record that renews
// it. While this host keeps heartbeating, that is never: re-acquire the
// partition here (the processor does), or stop heartbeating.
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

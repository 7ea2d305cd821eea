package blobstore

// Operator writes: edits made by someone who does not hold the lease. They
// follow the same discipline as every other write (one conditional write on
// the version just read), and a forced one fences the holder: it clears the
// owner and bumps the epoch, so the holder's next write fails with
// ErrLeaseLost instead of silently overwriting the operator's edit.

import (
	"context"
	"errors"
	"fmt"
)

// EditOptions control an operator's edit. A nil *EditOptions means the
// defaults.
type EditOptions struct {
	// Force permits editing a partition whose lease is held. The edit then
	// also ends the lease: the owner is cleared and the epoch incremented.
	Force bool
}

// SetCheckpoint sets the partition's checkpoint on an operator's behalf
// (a rewind, a skip ahead, a restore). It refuses with ErrLeaseHeld while the
// lease is held, unless opts.Force, in which case the holder is fenced. The
// partition must exist. It returns the lease as written.
func (s *Store) SetCheckpoint(ctx context.Context, cp Checkpoint, opts *EditOptions) (Lease, error) {
	if err := s.begin(cp.PartitionID); err != nil {
		return Lease{}, err
	}
	if err := cp.validate(); err != nil {
		return Lease{}, err
	}
	pos := recordPosition{Offset: cp.Offset, Sequence: cp.SequenceNumber}
	return s.adminWrite(ctx, cp.PartitionID, "set checkpoint", opts, func(r *record) { r.Checkpoint = &pos })
}

// ForceRelease ends the partition's lease whoever holds it: the owner is
// cleared and the epoch incremented, so the holder's next write fails with
// ErrLeaseLost and any host may acquire the lease at once. Releasing a free
// lease is a no-op.
func (s *Store) ForceRelease(ctx context.Context, id string) (Lease, error) {
	if err := s.begin(id); err != nil {
		return Lease{}, err
	}
	return s.adminWrite(ctx, id, "force release", &EditOptions{Force: true}, nil)
}

// adminWrite applies mutate (nil: none) as an operator: refused while held
// unless forced; a write to a held lease clears the owner and bumps the epoch.
func (s *Store) adminWrite(ctx context.Context, id, op string, opts *EditOptions, mutate func(*record)) (Lease, error) {
	force := opts != nil && opts.Force
	p := s.part(id)
	if err := p.lock(ctx); err != nil {
		return Lease{}, err
	}
	defer p.unlock()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		rec, version, found, err := s.read(ctx, id)
		if err != nil {
			return Lease{}, err
		}
		if !found {
			if err := s.ensureStore(ctx); err != nil {
				return Lease{}, err
			}
			return Lease{}, fmt.Errorf("%w: %s %q", ErrPartitionNotFound, op, id)
		}
		if rec.held() && !force {
			return Lease{}, fmt.Errorf("%w: %s %q: held by %q (epoch %d); force it to fence the owner",
				ErrLeaseHeld, op, id, rec.Owner, rec.Epoch)
		}
		if mutate == nil && !rec.held() {
			return leaseOf(&rec), nil
		}
		next := rec.clone()
		if mutate != nil {
			mutate(&next)
		}
		if rec.held() {
			next.Owner, next.Token = "", ""
		}
		if err := next.advance(s.key(id), rec.held()); err != nil {
			return Lease{}, err
		}
		next.Updated = s.wallNow()
		v, err := s.commit(ctx, id, &next, version)
		if err == nil {
			p.adopt(next, v, p.renewedAt, false)
			return leaseOf(&next), nil
		}
		var refused *errWriteRefused
		if !errors.As(err, &refused) {
			return Lease{}, err
		}
		// The record moved (the owner renewed): decide again on what is there.
	}
	return Lease{}, fmt.Errorf("%w: %s %q: the record kept changing", ErrUnavailable, op, id)
}

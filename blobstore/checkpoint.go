package blobstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Checkpoint is how far a partition's consumer got: an offset, a sequence
// number, or both.
type Checkpoint struct {
	PartitionID string
	// Offset is the stream's position, opaque to the store; StartOfStream
	// ("-1") for a fresh checkpoint, "" for a checkpoint that has only a
	// sequence number.
	Offset string
	// SequenceNumber is the event's sequence number (at least -1); 0 for a
	// fresh checkpoint, NoSequenceNumber for one that has only an offset.
	SequenceNumber int64
}

// NoSequenceNumber is the SequenceNumber of a checkpoint that has only an
// offset (a stream whose positions are not 64-bit numbers, or an Event Hubs
// checkpoint that carries none).
const NoSequenceNumber int64 = math.MinInt64

// freshPosition is the stored form of a fresh checkpoint: StartOfStream,
// sequence 0.
func freshPosition() *recordPosition {
	return positionOf(Checkpoint{Offset: StartOfStream})
}

func (c Checkpoint) validate() error {
	switch {
	case c.Offset == "" && c.SequenceNumber == NoSequenceNumber:
		return fmt.Errorf("%w: checkpoint for %q has neither an offset nor a sequence number", ErrInvalidArgument, c.PartitionID)
	case len(c.Offset) > MaxOffsetLen || !utf8.ValidString(c.Offset):
		return fmt.Errorf("%w: checkpoint offset for %q is not valid UTF-8 of at most %d bytes", ErrInvalidArgument, c.PartitionID, MaxOffsetLen)
	case c.SequenceNumber < -1 && c.SequenceNumber != NoSequenceNumber:
		return fmt.Errorf("%w: checkpoint sequence number %d for %q", ErrInvalidArgument, c.SequenceNumber, c.PartitionID)
	}
	return nil
}

// CreateCheckpointIfNotExists creates the partition's checkpoint at
// StartOfStream, sequence 0, if it has none, and returns what is stored
// either way. A missing record is created free (one create-only write); a
// record whose checkpoint was deleted gets a fresh one.
func (s *Store) CreateCheckpointIfNotExists(ctx context.Context, id string) (Checkpoint, error) {
	if err := s.begin(id); err != nil {
		return Checkpoint{}, err
	}
	p := s.part(id)
	if err := p.lock(ctx); err != nil {
		return Checkpoint{}, err
	}
	defer p.unlock()
	rec, err := s.createLocked(ctx, p, id, true)
	if err != nil {
		return Checkpoint{}, err
	}
	return *leaseOf(&rec).Checkpoint, nil
}

// GetCheckpoint returns the partition's checkpoint. found is false, with a
// nil error, when there is none (never created, or deleted); the error is
// ErrStoreNotFound when the store itself is missing.
func (s *Store) GetCheckpoint(ctx context.Context, id string) (cp Checkpoint, found bool, err error) {
	l, ok, err := s.GetLease(ctx, id)
	if err != nil || !ok || l.Checkpoint == nil {
		return Checkpoint{}, false, err
	}
	return *l.Checkpoint, true, nil
}

// UpdateCheckpoint stores cp under the caller's lease: one conditional write
// on the version this Store last wrote, which also renews the lease. It fails
// with ErrLeaseLost when the lease is no longer the caller's (a zombie's
// checkpoint is never accepted).
func (s *Store) UpdateCheckpoint(ctx context.Context, lease Lease, cp Checkpoint) error {
	if cp.PartitionID == "" {
		cp.PartitionID = lease.PartitionID
	}
	if cp.PartitionID != lease.PartitionID {
		return fmt.Errorf("%w: checkpoint for %q under the lease of %q", ErrInvalidArgument, cp.PartitionID, lease.PartitionID)
	}
	if err := ValidatePartitionID(cp.PartitionID); err != nil {
		return err
	}
	if err := cp.validate(); err != nil {
		return err
	}
	pos := positionOf(cp)
	_, err := s.ownerWrite(ctx, lease, "update checkpoint", func(r *record) { r.Checkpoint = pos })
	return err
}

// DeleteCheckpoint removes the partition's checkpoint. A missing checkpoint
// is success. The lease is untouched: a live owner keeps it, and its next
// checkpoint is accepted. It is one conditional write (conditional deletes
// are not portable across providers).
func (s *Store) DeleteCheckpoint(ctx context.Context, id string) error {
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
		if !found || rec.Checkpoint == nil {
			if !found {
				return s.ensureStore(ctx)
			}
			return nil
		}
		next := rec.clone()
		next.Checkpoint = nil
		if err := next.advance(s.key(id), false); err != nil {
			return err
		}
		next.Updated = s.wallNow()
		v, err := s.commit(ctx, id, &next, version)
		if err == nil {
			p.adopt(next, v, p.renewedAt, false)
			return nil
		}
		var refused *errWriteRefused
		if !errors.As(err, &refused) {
			return err
		}
	}
	return fmt.Errorf("%w: delete checkpoint %q: the record kept changing", ErrUnavailable, id)
}

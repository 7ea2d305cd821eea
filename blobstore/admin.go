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
	"math"
	"regexp"
	"strconv"

	"github.com/tidemark/tidemark/blobstore/driver"
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
	pos := positionOf(cp)
	return s.adminWrite(ctx, cp.PartitionID, "set checkpoint", opts, func(r *record) { r.Checkpoint = pos })
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
			next.Owner, next.Token, next.Presence = "", "", ""
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

// ReadRecordBytes returns the bytes stored at partition id's key and the
// version token of those bytes, whether or not they parse: what an operator
// inspects before RemoveCorrupt. With no object at the key the error wraps
// ErrPartitionNotFound. It is one read.
func (s *Store) ReadRecordBytes(ctx context.Context, id string) (data []byte, version string, err error) {
	if err := s.begin(id); err != nil {
		return nil, "", err
	}
	key := s.key(id)
	obj, err := s.bkt.Get(ctx, key)
	if errors.Is(err, driver.ErrNotFound) {
		return nil, "", fmt.Errorf("%w: no object at %q", ErrPartitionNotFound, key)
	}
	if err != nil {
		return nil, "", wrapDriverErr("get", key, err)
	}
	return obj.Data, obj.Version, nil
}

// RemoveCorrupt replaces partition id's unreadable record with a tombstone,
// if and only if the object still holds version (from ReadRecordBytes) and
// those bytes do not decode as a record. It is one conditional write, never
// a blind delete: if the object changed since it was inspected, or reads as
// a valid record, nothing is written and the error wraps
// ErrInvalidArgument. After it the partition reads as absent, and
// CreateLeaseIfNotExists (a processor host's next cycle) creates it afresh,
// with its checkpoint at StartOfStream.
//
// The tombstone keeps the epoch and counter the corrupt bytes still show
// (when they are readable as numbers), so epochs go on growing from there;
// otherwise they start again from zero, as in a new store.
func (s *Store) RemoveCorrupt(ctx context.Context, id, version string) error {
	if err := s.begin(id); err != nil {
		return err
	}
	if version == "" {
		return fmt.Errorf("%w: remove corrupt %q: no version (inspect the record with ReadRecordBytes first)", ErrInvalidArgument, id)
	}
	p := s.part(id)
	if err := p.lock(ctx); err != nil {
		return err
	}
	defer p.unlock()
	key := s.key(id)
	obj, err := s.bkt.Get(ctx, key)
	if errors.Is(err, driver.ErrNotFound) {
		return fmt.Errorf("%w: remove corrupt %q: no object at %q", ErrPartitionNotFound, id, key)
	}
	if err != nil {
		return wrapDriverErr("get", key, err)
	}
	if obj.Version != version {
		return fmt.Errorf("%w: remove corrupt %q: the record changed since it was inspected; inspect it again", ErrInvalidArgument, id)
	}
	if _, derr := decodeRecord(key, id, obj.Data); derr == nil {
		return fmt.Errorf("%w: remove corrupt %q: the record is readable; nothing to remove (use rm without --corrupt)", ErrInvalidArgument, id)
	}
	// Whatever numbers survive in the bytes, so epochs do not go back.
	tomb := record{Schema: schemaVersion, Partition: id, Deleted: true,
		Epoch: survivingNumber(obj.Data, "epoch"), Counter: survivingNumber(obj.Data, "counter")}
	if tomb.Counter == math.MaxUint64 {
		tomb.Counter-- // room for the tombstone's own write below
	}
	tomb.Counter++
	tomb.Updated = s.wallNow()
	if _, err := s.commit(ctx, id, &tomb, version); err != nil {
		var refused *errWriteRefused
		if errors.As(err, &refused) {
			return fmt.Errorf("%w: remove corrupt %q: the record changed since it was inspected; inspect it again", ErrInvalidArgument, id)
		}
		return err
	}
	p.drop()
	p.highest = tomb.Counter
	return nil
}

// survivingNumber finds `"name":DIGITS` in bytes that may not parse as a
// whole (a truncated record), and returns the number, or zero.
func survivingNumber(data []byte, name string) uint64 {
	m := regexp.MustCompile(`"` + name + `"\s*:\s*([0-9]{1,20})`).FindSubmatch(data)
	if m == nil {
		return 0
	}
	n, err := strconv.ParseUint(string(m[1]), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

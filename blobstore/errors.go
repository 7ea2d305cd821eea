package blobstore

import (
	"errors"
	"fmt"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// The errors a Store returns. Every error from a Store method wraps exactly
// one of these (test with errors.Is) and, where it came from the provider,
// the provider's error too (reach it with errors.As).
var (
	// ErrStoreNotFound: the store has not been created (no store marker under
	// the prefix), or its bucket or directory does not exist. Call
	// CreateStoreIfNotExists.
	ErrStoreNotFound = errors.New("tidemark: store not found")

	// ErrPartitionNotFound: the partition has no record. Call
	// CreateLeaseIfNotExists or CreateCheckpointIfNotExists.
	ErrPartitionNotFound = errors.New("tidemark: partition not found")

	// ErrLeaseHeld: another owner holds a live lease on the partition.
	// Losing a race for a lease is reported this way; it is a normal result.
	ErrLeaseHeld = errors.New("tidemark: lease held by another owner")

	// ErrLeaseLost: the caller's lease is no longer valid: it was stolen,
	// released, deleted, fenced by an operator, or it lapsed because it was
	// not renewed within the lease duration. The caller must stop working on
	// the partition; nothing it writes will be accepted. The error is a
	// *LeaseLostError, whose Cause says which.
	ErrLeaseLost = errors.New("tidemark: lease lost")

	// ErrInvalidPartitionID: the partition id is empty, too long, contains a
	// path separator or a control character, is "." or "..", or is not UTF-8.
	// It is reported before any I/O.
	ErrInvalidPartitionID = errors.New("tidemark: invalid partition id")

	// ErrInvalidArgument: an argument other than the partition id is invalid
	// (an empty offset, metadata over the size limit, bad options, a lease
	// value that does not belong to the partition).
	ErrInvalidArgument = errors.New("tidemark: invalid argument")

	// ErrCorrupt: the stored record does not parse, fails validation, or has
	// a schema version this build does not know. The object is left exactly
	// as it is; an operator must inspect and repair or remove it.
	ErrCorrupt = errors.New("tidemark: corrupt record")

	// ErrPermission: the provider refused the credentials.
	ErrPermission = errors.New("tidemark: permission denied")

	// ErrUnavailable: the provider could not be reached or did not answer.
	// Nothing was written by the call, unless the error also matches
	// ErrOutcomeUnknown (a write was sent and may have landed).
	ErrUnavailable = errors.New("tidemark: store unavailable")

	// ErrOutcomeUnknown: a write was sent and the Store cannot tell whether it
	// landed: its response was lost (or an SDK retry met a failed
	// precondition) and the read-back could not settle it, because it failed
	// or because another host has written since. The change may be stored or
	// not. The Store reads before its next write to the partition, so calling
	// again is safe: a checkpoint is rewritten, or refused with ErrLeaseLost
	// if the lease has moved on; an Acquire adopts its own acquisition if it
	// landed. It is never a refusal: ErrLeaseLost and ErrLeaseHeld mean
	// nothing was written.
	//
	// It is a kind of unavailability: an error that matches it also matches
	// ErrUnavailable, so code that retries on ErrUnavailable needs no change.
	ErrOutcomeUnknown error = outcomeUnknown{}

	// ErrInvalidURL: the store URL is malformed, names an unknown scheme,
	// carries a parameter the provider does not accept, or names a bucket or
	// container the provider refuses as invalid.
	ErrInvalidURL = errors.New("tidemark: invalid store URL")

	// ErrClosed: the Store has been closed.
	ErrClosed = errors.New("tidemark: store closed")
)

// outcomeUnknown is ErrOutcomeUnknown's type: it also matches ErrUnavailable.
type outcomeUnknown struct{}

func (outcomeUnknown) Error() string { return "tidemark: write outcome unknown" }

// Is reports whether target is ErrUnavailable.
func (outcomeUnknown) Is(target error) bool { return target == ErrUnavailable }

// CorruptRecordError describes a record that could not be used. It matches
// ErrCorrupt with errors.Is.
type CorruptRecordError struct {
	Key string // the object key
	// PartitionID is the partition whose record it is; empty for records
	// that are not a partition's (the store marker, host presence).
	PartitionID string
	Reason      string // what is wrong, e.g. "unknown schema version 7"
	Err         error  // the decoding error, if any
}

func (e *CorruptRecordError) Error() string {
	s := fmt.Sprintf("tidemark: corrupt record %q: %s", e.Key, e.Reason)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Is reports whether target is ErrCorrupt.
func (e *CorruptRecordError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the decoding error, if any.
func (e *CorruptRecordError) Unwrap() error { return e.Err }

// LeaseLostError is the error behind every ErrLeaseLost a Store returns: the
// partition, the operation refused, and why. It matches ErrLeaseLost with
// errors.Is; reach it with errors.As to tell the causes apart (a metric of
// losses by cause, a log line an operator can act on).
type LeaseLostError struct {
	PartitionID string
	Op          string // the operation refused, e.g. "update checkpoint", "renew"
	Cause       LossCause
	// Owner and Epoch name who holds the record now, when Cause is
	// LossTaken.
	Owner  string
	Epoch  uint64
	Reason string // what happened, in words
}

// LossCause says why a lease was lost.
type LossCause string

// The causes of a lost lease.
const (
	// LossTaken: the record names another owner now (a steal, or a claim
	// after the lease lapsed).
	LossTaken LossCause = "taken"
	// LossFenced: another writer freed or deleted the record: an
	// operator's forced edit, release or rm (a forced edit clears the
	// owner and bumps the epoch), or a later owner that has already let it
	// go.
	LossFenced LossCause = "fenced"
	// LossLapsed: the lease was not renewed within the lease duration.
	LossLapsed LossCause = "lapsed"
	// LossNotHeld: this Store does not hold the lease: it was released or
	// lost before, superseded by a newer acquisition through this Store,
	// or acquired through another Store.
	LossNotHeld LossCause = "not_held"
)

func (e *LeaseLostError) Error() string {
	return fmt.Sprintf("%v: %s %q: %s", ErrLeaseLost, e.Op, e.PartitionID, e.Reason)
}

// Is reports whether target is ErrLeaseLost.
func (e *LeaseLostError) Is(target error) bool { return target == ErrLeaseLost }

// wrapDriverErr wraps a provider error exactly once, naming the operation and
// the key, and maps the driver's classification to this package's sentinels.
// Errors that already carry a blobstore sentinel are returned unchanged.
func wrapDriverErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	switch {
	case isOurs(err):
		return err
	case errors.Is(err, driver.ErrBucketNotFound):
		sentinel = ErrStoreNotFound
	case errors.Is(err, driver.ErrPermission):
		sentinel = ErrPermission
	case errors.Is(err, driver.ErrInvalidArgument):
		sentinel = ErrInvalidURL
	case errors.Is(err, driver.ErrNotFound):
		sentinel = ErrPartitionNotFound
	default:
		sentinel = ErrUnavailable
	}
	return fmt.Errorf("%w: %s %q: %w", sentinel, op, key, err)
}

func isOurs(err error) bool {
	for _, s := range []error{ErrStoreNotFound, ErrPartitionNotFound, ErrLeaseHeld, ErrLeaseLost,
		ErrInvalidPartitionID, ErrInvalidArgument, ErrCorrupt, ErrPermission, ErrUnavailable,
		ErrOutcomeUnknown, ErrInvalidURL, ErrClosed} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

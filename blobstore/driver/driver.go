// Package driver defines the narrow seam between the portable blobstore.Store
// and a storage provider.
//
// A provider supplies exactly what differs between object stores: how to read
// an object with its version token, how to write one conditionally (create-only
// or compare-and-swap on that token), how to delete and how to list keys with
// their versions. Everything else (keys, the record format, validation,
// fencing, retries, error wrapping) belongs to blobstore.Store, which is the
// only caller of a Bucket.
//
// The obligations below are checked by the Driver group of the conformance
// package, which every driver must pass unchanged.
//
// # Errors
//
// A driver reports the conditions the Store acts on by returning errors for
// which errors.Is reports one of the sentinels in this package: ErrNotFound,
// ErrPrecondition, ErrBucketNotFound, ErrPermission, ErrConflict,
// ErrRetriedPrecondition, ErrInvalidArgument. Any other error from Put means
// the outcome is unknown: the Store resolves it by reading the object back.
//
// A driver wraps its sentinel and the provider's error, and nothing else:
// fmt.Errorf("%w: %w", driver.ErrNotFound, sdkErr). It does not name the
// operation or the key; the Store adds both, once, so that a message reads
// `get "p/7.json": object not found: <the SDK's words>`. Callers can still
// reach the SDK error with errors.As.
//
// # As
//
// A Bucket may implement As (see the Aser interface) to expose the provider's
// SDK client; blobstore.Store.As forwards to it.
package driver

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors a driver returns (wrapped) so the Store can classify them.
var (
	// ErrNotFound: the object does not exist.
	ErrNotFound = errors.New("object not found")
	// ErrPrecondition: a conditional write or delete was refused because the
	// object exists (create-only) or its version differs (compare-and-swap).
	ErrPrecondition = errors.New("precondition failed")
	// ErrBucketNotFound: the container itself (bucket, directory, namespace)
	// does not exist.
	ErrBucketNotFound = errors.New("bucket not found")
	// ErrPermission: the credentials are missing, wrong or not allowed the
	// operation. It must never be reported as ErrNotFound.
	ErrPermission = errors.New("permission denied")
	// ErrRetriedPrecondition: a retry of a conditional write met a failed
	// precondition after an earlier attempt of the same write may have been
	// applied. The outcome is unknown: the earlier attempt may have landed
	// and been overwritten since. It must not also wrap ErrPrecondition.
	ErrRetriedPrecondition = errors.New("precondition failed on a retry (an earlier attempt may have landed)")
	// ErrInvalidArgument: the service refused the request as malformed
	// because of how the store is configured (S3's 400 InvalidBucketName,
	// Azure's 400 InvalidResourceName or OutOfRangeInput, a GCS 400 on a
	// bucket name). Nothing was written, and repeating the request cannot
	// succeed. The Store reports it as an invalid store URL.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrConflict: the service refused the request because of a concurrent
	// conflicting request (S3's 409 ConditionalRequestConflict). The write did
	// not happen and may be retried. Like ErrPrecondition it is definite only
	// for a Put sent once: on a retry the conflict may be with the earlier
	// attempt itself, and the driver returns ErrRetriedPrecondition instead.
	ErrConflict = errors.New("concurrent request conflict")
)

// CreateOnly is the value of Put's ifVersion that asks for a create-only
// write: the write must fail with ErrPrecondition if the object exists.
const CreateOnly = ""

// Object is one stored object with the version token of exactly these bytes.
type Object struct {
	Data    []byte
	Version string
}

// Entry is one listed object: its key and the version token of its current
// bytes, the same token Get would return for them, and when the store last
// wrote it by the store's own clock (zero if the listing does not say).
type Entry struct {
	Key      string
	Version  string
	Modified time.Time
}

// Bucket is a flat namespace of objects addressed by key. Keys are
// slash-separated UTF-8 strings that the Store has already validated.
//
// Implementations must be safe for concurrent use by multiple goroutines, and
// separate Bucket values opened on the same namespace (in one process or in
// several) must observe one another's writes.
type Bucket interface {
	// Get returns the object's bytes and the version token of those bytes.
	// It must return an error wrapping ErrNotFound if the object does not
	// exist, and ErrBucketNotFound if the container does not exist.
	Get(ctx context.Context, key string) (Object, error)

	// Put writes data to key atomically: a reader sees either the old bytes or
	// the new ones, never a mix, also when the writer crashes mid-write.
	//
	// If ifVersion is CreateOnly, the write must succeed only if no object
	// exists at key. Otherwise it must succeed only if the object exists and
	// its current version equals ifVersion. When the condition does not hold
	// the driver must not change the object and must return an error wrapping
	// ErrPrecondition. (A missing object under compare-and-swap may be
	// reported as either ErrPrecondition or ErrNotFound.) Exactly one of any
	// number of concurrent conditional writes made with the same condition may
	// succeed.
	//
	// ErrPrecondition is a definite answer: this Put changed nothing. A
	// driver whose client retries must therefore not return ErrPrecondition
	// when an earlier attempt of the same Put may have been applied (its
	// response was lost, it timed out, or the service answered 5xx): the
	// retry's failed precondition may be the echo of that attempt's own
	// success. It must return an error wrapping ErrRetriedPrecondition
	// instead, which the Store treats as an unknown outcome and settles by
	// reading back.
	//
	// On success Put returns the version token of the bytes it wrote, taken
	// from the write itself (no extra request). Version tokens are opaque; a
	// token must change whenever the bytes change. It may repeat for
	// byte-identical content (S3 ETags are content hashes): the Store makes
	// every write's bytes differ.
	Put(ctx context.Context, key string, data []byte, ifVersion string) (version string, err error)

	// Delete removes the object unconditionally. Deleting a missing object
	// succeeds. The Store never deletes a record another host may still write
	// (it writes tombstones instead), so no condition is needed, and several
	// services ignore conditional deletes anyway (MinIO, fake-gcs-server).
	Delete(ctx context.Context, key string) error

	// List returns, in lexical order of key, the objects whose keys start
	// with prefix, each with the version token of its current bytes (S3's
	// ETag, GCS's generation, Azure's ETag), in the same form Get and Put
	// return it. It returns at most one page: a non-empty next token asks the
	// caller to call again with it. It must return ErrBucketNotFound if the
	// container does not exist.
	List(ctx context.Context, prefix, pageToken string) (entries []Entry, next string, err error)

	// Close releases the driver's resources. The Bucket is unusable after it.
	Close() error
}

// Aser is implemented by a Bucket that exposes its provider's SDK client.
// As reports whether target, a pointer to a variable of a type the driver
// documents, was set.
type Aser interface {
	As(target any) bool
}

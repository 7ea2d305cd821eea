package gcs

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	gcstorage "cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// op names the driver operation an error came from. The same HTTP status
// means different things per operation (a 404 on an upload can only be the
// bucket), so the mapping needs it.
type op string

const (
	opGet    op = "get"
	opPut    op = "put"
	opDelete op = "delete"
	opList   op = "list"
)

// wrapErr is the one place where errors from the storage client are mapped to
// the driver's sentinels. It wraps err exactly once, naming the operation, the
// bucket and the key, and keeps err reachable with errors.As (for example as
// *googleapi.Error). Errors it does not recognise are wrapped without a
// sentinel, which tells the Store that the outcome is unknown.
//
//	storage client error                        driver sentinel
//	HTTP 412 Precondition Failed                ErrPrecondition
//	HTTP 401, HTTP 403                          ErrPermission (never ErrNotFound)
//	storage.ErrBucketNotExist                   ErrBucketNotFound
//	HTTP 404 on put (an upload)                 ErrBucketNotFound
//	storage.ErrObjectNotExist, other HTTP 404   ErrNotFound
//	anything else (5xx, 429, transport, ctx)    none: outcome unknown
//
// A 404 from a read or a delete does not say whether the object or the bucket
// is missing (the XML read API drops the body); Bucket.Get and Bucket.Delete
// settle that with a listing request before calling wrapErr.
func wrapErr(o op, bucket, key string, err error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	var gerr *googleapi.Error
	hasCode := errors.As(err, &gerr)
	switch {
	case hasCode && gerr.Code == http.StatusPreconditionFailed:
		sentinel = driver.ErrPrecondition
	case hasCode && (gerr.Code == http.StatusUnauthorized || gerr.Code == http.StatusForbidden):
		// gocloud's gcsblob reports 403 as NotFound; for us that would read
		// as "no checkpoint" and invite a fresh create. Never do that.
		sentinel = driver.ErrPermission
	case errors.Is(err, gcstorage.ErrBucketNotExist):
		sentinel = driver.ErrBucketNotFound
	case hasCode && gerr.Code == http.StatusBadRequest && gerr.Message != "" && strings.Contains(strings.ToLower(gerr.Message), "bucket"):
		// A bucket name the service refuses (real GCS: 400 "Invalid bucket
		// name"): a configuration mistake, not an outage.
		sentinel = driver.ErrInvalidArgument
	case o == opPut && hasCode && gerr.Code == http.StatusNotFound:
		// An object insert has no object to miss (a compare-and-swap on a
		// missing object is a 412), so a 404 is the bucket.
		sentinel = driver.ErrBucketNotFound
	case errors.Is(err, gcstorage.ErrObjectNotExist),
		hasCode && gerr.Code == http.StatusNotFound:
		sentinel = driver.ErrNotFound
	}
	if key == "" {
		if sentinel == nil {
			return fmt.Errorf("gcs: %s gs://%s: %w", o, bucket, err)
		}
		return fmt.Errorf("gcs: %s gs://%s: %w: %w", o, bucket, sentinel, err)
	}
	if sentinel == nil {
		return fmt.Errorf("gcs: %s gs://%s/%s: %w", o, bucket, key, err)
	}
	return fmt.Errorf("gcs: %s gs://%s/%s: %w: %w", o, bucket, key, sentinel, err)
}

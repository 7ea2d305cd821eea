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
// bucket), so the mapping needs it; it never appears in a message.
type op string

const (
	opGet    op = "get"
	opPut    op = "put"
	opDelete op = "delete"
	opList   op = "list"
)

// wrapErr is the one place where errors from the storage client are mapped to
// the driver's sentinels. A recognised error comes back as the sentinel and
// err, wrapped once and nothing more (fmt.Errorf("%w: %w", sentinel, err)), so
// err stays reachable with errors.As (for example as *googleapi.Error). An
// error it does not recognise comes back as err itself, with no sentinel,
// which tells the Store that the outcome is unknown. It names neither the
// operation nor the bucket nor the key: blobstore.Store adds the operation and
// the key, once. The operation is an argument only because the same status
// means different things per operation (a 404 on an upload can only be the
// bucket).
//
//	storage client error                        driver sentinel
//	HTTP 412 Precondition Failed                ErrPrecondition
//	HTTP 401, HTTP 403                          ErrPermission (never ErrNotFound)
//	storage.ErrBucketNotExist                   ErrBucketNotFound
//	HTTP 400 whose message is about the bucket  ErrInvalidArgument
//	HTTP 404 on put (an upload)                 ErrBucketNotFound
//	storage.ErrObjectNotExist, other HTTP 404   ErrNotFound
//	anything else (5xx, 429, transport, ctx)    none: outcome unknown
//
// A 404 from a read or a delete does not say whether the object or the bucket
// is missing (the XML read API drops the body); Bucket.Get and Bucket.Delete
// settle that with a listing request before calling wrapErr.
func wrapErr(o op, err error) error {
	if err == nil {
		return nil
	}
	if sentinel := classify(o, err); sentinel != nil {
		return fmt.Errorf("%w: %w", sentinel, err)
	}
	return err
}

// classify returns the driver sentinel for an error of the storage client
// met by operation o, or nil when it has none. See wrapErr.
func classify(o op, err error) error {
	var gerr *googleapi.Error
	hasCode := errors.As(err, &gerr)
	switch {
	case hasCode && gerr.Code == http.StatusPreconditionFailed:
		return driver.ErrPrecondition
	case hasCode && (gerr.Code == http.StatusUnauthorized || gerr.Code == http.StatusForbidden):
		// gocloud's gcsblob reports 403 as NotFound; for us that would read
		// as "no checkpoint" and invite a fresh create. Never do that.
		return driver.ErrPermission
	case errors.Is(err, gcstorage.ErrBucketNotExist):
		return driver.ErrBucketNotFound
	case hasCode && gerr.Code == http.StatusBadRequest && gerr.Message != "" && strings.Contains(strings.ToLower(gerr.Message), "bucket"):
		// A bucket name the service refuses (real GCS: 400 "Invalid bucket
		// name"): a configuration mistake, not an outage.
		return driver.ErrInvalidArgument
	case o == opPut && hasCode && gerr.Code == http.StatusNotFound:
		// An object insert has no object to miss (a compare-and-swap on a
		// missing object is a 412), so a 404 is the bucket.
		return driver.ErrBucketNotFound
	case errors.Is(err, gcstorage.ErrObjectNotExist),
		hasCode && gerr.Code == http.StatusNotFound:
		return driver.ErrNotFound
	}
	return nil
}

package gcs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	gcstorage "cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// TestWrapErr feeds the mapping function the error values the storage client
// produces. fake-gcs-server has no authentication, so 401 and 403 can only be
// tested this way: the *googleapi.Error values below are what the client
// returns for those answers (fault injection of a value, not a mock server).
func TestWrapErr(t *testing.T) {
	apiErr := func(code int) *googleapi.Error {
		return &googleapi.Error{Code: code, Message: http.StatusText(code)}
	}
	// The shapes the storage client wraps them in (storage.go formatObjectErr,
	// formatBucketError, and invoke.go's retry limit).
	objectNotFound := fmt.Errorf("%w: %w", gcstorage.ErrObjectNotExist, apiErr(404))
	bucketNotFound := fmt.Errorf("%w: %w", gcstorage.ErrBucketNotExist, apiErr(404))
	retried := func(err error) error {
		return fmt.Errorf("storage: retry failed after 3 attempts; last error: %w", err)
	}

	tests := []struct {
		name string
		op   op
		err  error
		want error // nil: no sentinel, outcome unknown
	}{
		{"412 on put", opPut, apiErr(412), driver.ErrPrecondition},
		{"412 on delete", opDelete, apiErr(412), driver.ErrPrecondition},
		{"403 on get", opGet, apiErr(403), driver.ErrPermission},
		{"403 on put", opPut, apiErr(403), driver.ErrPermission},
		{"403 on list", opList, apiErr(403), driver.ErrPermission},
		{"403 after retries", opGet, retried(apiErr(403)), driver.ErrPermission},
		{"401 on get", opGet, apiErr(401), driver.ErrPermission},
		{"401 on put", opPut, apiErr(401), driver.ErrPermission},
		{"object missing on get (XML read)", opGet, gcstorage.ErrObjectNotExist, driver.ErrNotFound},
		{"object missing on get (JSON read)", opGet, objectNotFound, driver.ErrNotFound},
		{"bucket missing on list", opList, bucketNotFound, driver.ErrBucketNotFound},
		{"bucket missing after retries", opList, retried(bucketNotFound), driver.ErrBucketNotFound},
		{"404 on put is the bucket", opPut, apiErr(404), driver.ErrBucketNotFound},
		{"404 on delete", opDelete, objectNotFound, driver.ErrNotFound},
		{"429", opPut, apiErr(429), nil},
		{"503", opGet, retried(apiErr(503)), nil},
		{"409", opPut, apiErr(409), nil},
		{"deadline", opPut, context.DeadlineExceeded, nil},
		{"transport", opGet, errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wrapErr(tt.op, "bkt", "p/0.json", tt.err)
			if got == nil {
				t.Fatal("wrapErr returned nil")
			}
			for _, s := range sentinels {
				if is := errors.Is(got, s); is != (s == tt.want) { //nolint:errorlint // comparing sentinel identities
					t.Errorf("errors.Is(%v, %v) = %v", got, s, is)
				}
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("the storage client's error is not wrapped: %v", got)
			}
			var want *googleapi.Error
			if errors.As(tt.err, &want) {
				var ge *googleapi.Error
				if !errors.As(got, &ge) || ge != want {
					t.Errorf("errors.As(*googleapi.Error) lost the SDK error: %v", got)
				}
			}
			if !strings.Contains(got.Error(), "gs://bkt/p/0.json") || !strings.Contains(got.Error(), string(tt.op)) {
				t.Errorf("message %q does not name the operation and object", got)
			}
			// Wrapped exactly once: our prefix appears one time.
			if n := strings.Count(got.Error(), "gcs: "); n != 1 {
				t.Errorf("message %q carries %d gcs prefixes", got, n)
			}
		})
	}

	if wrapErr(opGet, "bkt", "k", nil) != nil {
		t.Error("wrapErr(nil) != nil")
	}
	// Permission never reads as "no checkpoint".
	if err := wrapErr(opGet, "bkt", "k", apiErr(403)); errors.Is(err, driver.ErrNotFound) {
		t.Errorf("403 maps to ErrNotFound: %v", err)
	}
}

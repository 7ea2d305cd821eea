package azblob

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// wrapError is the one place where Azure's answers become driver sentinels.
// It names the operation (blobstore.Store names the key, and the SDK's own
// message carries the blob URL) and keeps err reachable with errors.As.
// Anything it does not classify is left for the caller to treat as unknown.
func wrapError(op string, err error) error {
	if err == nil {
		return nil
	}
	if s := sentinelFor(err); s != nil {
		return fmt.Errorf("azblob: %s: %w: %w", op, s, err)
	}
	return fmt.Errorf("azblob: %s: %w", op, err)
}

func sentinelFor(err error) error {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		switch bloberror.Code(re.ErrorCode) {
		case bloberror.BlobAlreadyExists, // 409: If-None-Match "*" on an existing blob
			bloberror.ConditionNotMet: // 412: If-Match on another ETag
			return driver.ErrPrecondition
		case bloberror.BlobNotFound:
			return driver.ErrNotFound
		case bloberror.ContainerNotFound:
			return driver.ErrBucketNotFound
		}
		// Every 401/403 is about credentials or rights (AuthenticationFailed,
		// AuthorizationFailure, AuthorizationPermissionMismatch, ...): never
		// "no such object".
		if re.StatusCode == http.StatusUnauthorized || re.StatusCode == http.StatusForbidden {
			return driver.ErrPermission
		}
		return nil
	}
	// Token acquisition failed before any storage request was made.
	var authFailed *azidentity.AuthenticationFailedError
	var authRequired *azidentity.AuthenticationRequiredError
	if errors.As(err, &authFailed) || errors.As(err, &authRequired) {
		return driver.ErrPermission
	}
	return nil
}

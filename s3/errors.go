package s3

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// wrapError is the one place where S3's answers become driver sentinels. It
// returns the sentinel, if one applies, and err (compacted to one line, see
// compactAPIError), and names neither the operation nor the key: blobstore
// adds both, once. err stays reachable with errors.As (smithy.APIError,
// *awshttp.ResponseError). Anything it does not classify is left for the
// caller to treat as an unknown outcome.
//
// Two answers that are configuration mistakes, not outages, get a hint of what
// to change: a bucket name the service refuses (400 InvalidBucketName), and a
// failed DNS lookup of <bucket>.<endpoint host>, which is what a custom
// endpoint without path-style addressing (MinIO and most S3-compatible
// servers) produces.
func (b *bucket) wrapError(err error) error {
	if err == nil {
		return nil
	}
	var hint string
	var ae smithy.APIError
	var dns *net.DNSError
	switch {
	case errors.As(err, &ae) && ae.ErrorCode() == "InvalidBucketName":
		hint = fmt.Sprintf("; the service refuses the bucket name %q: S3 bucket names are 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit", b.name)
	case errors.As(err, &dns) && b.endpointHost != "" && strings.EqualFold(dns.Name, b.name+"."+b.endpointHost):
		hint = fmt.Sprintf("; the client addressed the bucket as host %s (virtual-hosted style): set use_path_style=true for MinIO and other S3-compatible servers", dns.Name)
	}
	err = compact(err)
	if s := sentinelFor(err); s != nil {
		return fmt.Errorf("%w: %w%s", s, err, hint)
	}
	if hint == "" {
		return err
	}
	return fmt.Errorf("%w%s", err, hint)
}

// apiError is an S3 answer told in one line: the HTTP status, S3's error
// code and its message, without the SDK's operation, request and host ids
// (or a request without an answer, see compactTransportError). The SDK's
// error stays reachable with errors.As (smithy.APIError,
// *awshttp.ResponseError).
type apiError struct {
	msg string
	err error
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.err }

// compact tells an S3 answer (compactAPIError) or a request that got none
// (compactTransportError) in one line; any other error is returned as it is.
func compact(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return compactAPIError(err)
	}
	return compactTransportError(err)
}

// compactAPIError compacts an S3 API error; any other error is returned as it is.
func compactAPIError(err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return err
	}
	msg := fmt.Sprintf("%s %s", ae.ErrorCode(), ae.ErrorMessage())
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		msg = fmt.Sprintf("HTTP %d %s: %s", re.HTTPStatusCode(), ae.ErrorCode(), ae.ErrorMessage())
	}
	return &apiError{msg: strings.TrimSuffix(msg, ": "), err: err}
}

// compactTransportError tells a request that got no answer (refused, reset,
// timed out, a failed DNS lookup) as the endpoint and the network's words,
// and the attempts the SDK made: "request to http://127.0.0.1:9000 failed
// (3 attempts): dial tcp 127.0.0.1:9000: connect: connection refused". The
// SDK's own message repeats the request URL, whose path holds the bucket and
// the key, which blobstore names already. Any other error is returned as it
// is; the SDK's error stays reachable with errors.As.
func compactTransportError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) || ue.Err == nil {
		return err
	}
	where := "the endpoint"
	if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
		where = u.Scheme + "://" + u.Host
	}
	msg := "request to " + where + " failed"
	var me *retry.MaxAttemptsError
	if errors.As(err, &me) {
		msg += fmt.Sprintf(" (%d attempts)", me.Attempt)
	}
	return &apiError{msg: msg + ": " + ue.Err.Error(), err: err}
}

// permissionCodes are S3 error codes about credentials or rights. Some come
// with a status other than 401/403: ExpiredToken is a 400, and versitygw
// (v1.8.0) answers an unknown access key with 404 XAdminUserNotFound, which
// must not read as "no such object".
var permissionCodes = map[string]bool{
	"AccessDenied":          true,
	"AccountProblem":        true,
	"AllAccessDisabled":     true,
	"ExpiredToken":          true,
	"Forbidden":             true,
	"InvalidAccessKeyId":    true,
	"InvalidSecurity":       true,
	"InvalidToken":          true,
	"SignatureDoesNotMatch": true,
	"TokenRefreshRequired":  true,
	"XAdminUserNotFound":    true,
}

func sentinelFor(err error) error {
	var code string
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	var status int
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch {
	// If-None-Match "*" on an existing object, or If-Match on another ETag.
	// This is also what an SDK retry of a write that had landed receives:
	// blobstore resolves that by reading the object back.
	case code == "PreconditionFailed" || status == http.StatusPreconditionFailed:
		return driver.ErrPrecondition
	// Real S3, when conditional writes to one key overlap: nothing was
	// written, and the write may be retried.
	case code == "ConditionalRequestConflict":
		return driver.ErrConflict
	case code == "NoSuchBucket":
		return driver.ErrBucketNotFound
	case code == "InvalidBucketName":
		return driver.ErrInvalidArgument
	case code == "NoSuchKey" || code == "NotFound":
		return driver.ErrNotFound
	case permissionCodes[code] || status == http.StatusUnauthorized || status == http.StatusForbidden:
		return driver.ErrPermission
	}
	// No credentials could be found or fetched: no request was sent.
	var se *v4.SigningError
	if errors.As(err, &se) {
		return driver.ErrPermission
	}
	return nil
}

// Package s3 is Tidemark's Amazon S3 provider: a driver.Bucket over one S3
// bucket (or an S3-compatible service such as MinIO or versitygw), whose
// conditional writes are S3's own: If-None-Match "*" for create-only and
// If-Match on the ETag for compare-and-swap.
//
// Every data operation is one request made with the SDK's *s3.Client: Get is
// one GetObject (the version is the ETag of its response), Put is one
// PutObject that returns the new ETag from its own response (no HEAD
// afterwards), Delete is one unconditional DeleteObject, List is one
// ListObjectsV2 page whose entries carry each object's ETag as that page
// gives it (no HEAD per object). The three give an ETag in the same form, with
// its double quotes: a listed version is the version Get and Put give for the
// same bytes, and can be sent as If-Match.
// Writes never go through gocloud.dev's blob.Writer, whose transfer manager
// discards the PutObject response and so the new ETag.
//
// # URLs
//
// Importing this package registers the scheme "s3" with blobstore:
//
//	s3://my-bucket?region=eu-west-1&prefix=orders/billing/
//	s3://my-bucket?endpoint=http://127.0.0.1:9000&use_path_style=true&region=us-east-1
//
// The host is the bucket name. The URL is opened by gocloud.dev's s3blob URL
// opener (v0.47.0), so its query parameters apply unchanged:
//   - region, profile, endpoint, hostname_immutable, dualstack, fips,
//     anonymous, role, rate_limiter_capacity, request_checksum_calculation,
//     response_checksum_validation (see gocloud.dev/aws.V2ConfigFromURLParams);
//   - use_path_style (or s3ForcePathStyle), disable_https, accelerate;
//   - ssetype and kmskeyid, which this package applies to its own writes
//     (Options.EncryptionType and Options.KMSEncryptionID).
//
// Credentials and everything the URL does not say come from the SDK's default
// chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the shared
// config files, web identity, ECS and EC2 instance roles. For an emulator, set
// the two access key variables: otherwise the SDK goes looking for an
// instance role.
//
// The prefix parameter is consumed by blobstore before this package sees the
// URL; any parameter gocloud.dev does not know, gocloud's key parameter, or a
// URL path is an error. So is an endpoint that is not an http:// or https://
// URL ("endpoint=127.0.0.1:9000"), wherever it comes from (the URL, the
// environment or the config files): the SDK would fail every request on it.
// OpenBucket checks its client's endpoint the same way. Use OpenBucket to
// build the client yourself.
//
// # Errors
//
// Errors wrap both a driver sentinel, when one applies, and the SDK error, so
// errors.Is and errors.As both work. They name neither the operation nor the
// key: blobstore adds both, once. A service answer reads as its HTTP status,
// S3 error code and message, without the SDK's request and host ids:
// `precondition failed: HTTP 412 PreconditionFailed: At least one of the
// pre-conditions you specified did not hold`.
//
//	S3 answer                                         errors.Is
//	412 PreconditionFailed (create-only or CAS lost)  driver.ErrPrecondition
//	409 ConditionalRequestConflict                    driver.ErrConflict
//	404 NoSuchKey (or NotFound)                       driver.ErrNotFound
//	404 NoSuchBucket                                  driver.ErrBucketNotFound
//	400 InvalidBucketName                             driver.ErrInvalidArgument
//	401 or 403 (AccessDenied, InvalidAccessKeyId,
//	SignatureDoesNotMatch, ...), ExpiredToken,
//	InvalidToken, versitygw's 404 XAdminUserNotFound
//	(unknown access key), or no credentials at all    driver.ErrPermission
//
// A 412 or a 409 ConditionalRequestConflict met by a Put the SDK retried is
// driver.ErrRetriedPrecondition instead (see Retries and timeouts).
//
// Anything else (a timeout, a refused connection, a 5xx, a 301 for the wrong
// region) is the SDK error alone: for Put it means the outcome is unknown,
// and blobstore resolves it by reading the object back. A request that got
// no answer reads as the endpoint, the attempts made and the network's words
// (`request to http://127.0.0.1:9000 failed (3 attempts): dial tcp ...:
// connection refused`), not the SDK's request URL, which holds the key. The
// SDK error is a smithy.APIError (ErrorCode) and an *awshttp.ResponseError
// (HTTPStatusCode), both reachable with errors.As, as is a transport
// failure's *url.Error.
//
// Two answers are configuration mistakes, and their message says what to
// change: 400 InvalidBucketName gives the naming rule (the name is not
// checked before sending: AWS still serves legacy us-east-1 buckets with
// upper case and underscores), and a failed DNS lookup of
// <bucket>.<endpoint host> under a custom endpoint (left unclassified) says
// to set use_path_style=true, as MinIO and most S3-compatible servers need.
//
// # Retries and timeouts
//
// The SDK retries transport errors, 5xx and throttling answers. Each call
// overrides the client's limits (not its retry policy): at most
// Options.MaxAttempts HTTP attempts, at most Options.MaxBackoff between them,
// and every attempt, reading the response included, bounded by
// Options.AttemptTimeout. An endpoint that refuses connections therefore
// fails in about two seconds, one that drops packets in under twenty.
//
// Retrying a conditional write is safe but has a known effect: if the first
// attempt landed and only its response was lost, the retry is refused with
// 412 (or 409 ConditionalRequestConflict) for a write that did happen. Put
// notes whether the SDK retried and then reports
// driver.ErrRetriedPrecondition, an unknown outcome, never
// driver.ErrPrecondition: blobstore reads the object back and recognises its
// own record, so this is never mistaken for a lost race.
//
// # As
//
// The driver.Bucket returned by OpenBucket and by the URL opener implements
// driver.Aser: its As method accepts **s3.Client (the SDK client it uses,
// from github.com/aws/aws-sdk-go-v2/service/s3), and blobstore.Store.As
// forwards to it, so a Store opened on an s3:// URL gives its client the same
// way. Errors: smithy.APIError and *awshttp.ResponseError via errors.As.
//
// # Deletes
//
// Delete is one DeleteObject without a condition; deleting a missing key
// succeeds. blobstore never deletes a record another host may still write
// (it writes tombstones), and MinIO would ignore an If-Match on a delete
// anyway.
//
// # Keys
//
// Keys are used as object keys verbatim. File-backed services limit each
// "/"-separated segment: MinIO refuses one over 255 bytes (400
// XMinioInvalidObjectName), and versitygw's posix backend (v1.8.0) creates one
// of up to 255 bytes but cannot overwrite one over 227 bytes (its temporary
// name adds 28), answering 409 ExistingObjectIsDirectory. Those answers are
// left unclassified. gocloud.dev's s3blob escapes control
// characters and the "/" of "../" into "__0x..__" forms; such keys, which
// blobstore never produces, would name different objects here.
package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// Scheme is the URL scheme this package registers with blobstore.
const Scheme = "s3"

// Defaults for Options' zero values.
const (
	DefaultMaxAttempts    = 3
	DefaultMaxBackoff     = time.Second
	DefaultAttemptTimeout = 5 * time.Second
	DefaultPageSize       = 1000
)

// Options configure a Bucket. The zero value (or nil) means defaults.
type Options struct {
	// MaxAttempts bounds the HTTP attempts per operation, the first one
	// included; the client's retryer still decides which errors are worth
	// another attempt. Zero means DefaultMaxAttempts; 1 disables retries.
	MaxAttempts int

	// MaxBackoff caps the delay between two attempts. Zero means
	// DefaultMaxBackoff.
	MaxBackoff time.Duration

	// AttemptTimeout bounds each HTTP attempt, from sending the request to
	// reading the end of the response body. Zero means DefaultAttemptTimeout;
	// negative means no bound but the caller's context and the client's own.
	AttemptTimeout time.Duration

	// PageSize is the most keys one List call returns (ListObjectsV2's
	// MaxKeys). Zero means DefaultPageSize, which is also S3's maximum.
	PageSize int

	// EncryptionType and KMSEncryptionID set server-side encryption on every
	// write, as gocloud.dev's s3blob options of the same names do; a bucket
	// policy may demand them. Empty means none is asked for.
	EncryptionType  types.ServerSideEncryption
	KMSEncryptionID string
}

// OpenBucket returns a driver.Bucket over the bucket named bucket, reached
// through client. It makes no request: a missing bucket shows up as
// driver.ErrBucketNotFound on first use. opts may be nil.
func OpenBucket(ctx context.Context, client *awss3.Client, bucket string, opts *Options) (driver.Bucket, error) {
	b, err := openBucket(client, bucket, opts)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func openBucket(client *awss3.Client, name string, opts *Options) (*bucket, error) {
	if client == nil {
		return nil, errors.New("s3: OpenBucket: client is required")
	}
	if name == "" {
		return nil, errors.New("s3: OpenBucket: bucket name is required")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxAttempts < 0 || o.MaxBackoff < 0 || o.PageSize < 0 || o.PageSize > 1000 {
		return nil, fmt.Errorf("s3: OpenBucket: invalid options %+v", o)
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if o.AttemptTimeout == 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	b := &bucket{client: client, name: name, opts: o}
	if ep, ok := customEndpoint(client.Options()); ok {
		// The SDK accepts any string here and fails every request on one
		// without a scheme ("127.0.0.1:9000"), as if the service were down.
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			want := "http://127.0.0.1:9000"
			if !strings.Contains(ep, "://") {
				want = "http://" + ep
			}
			if strings.Contains(ep, "@") {
				ep, want = "(not shown: it holds userinfo)", "http://HOST:PORT"
			}
			return nil, fmt.Errorf("s3: endpoint %s is not an http:// or https:// URL: give its scheme, e.g. endpoint=%s", ep, want)
		}
		b.endpointHost = u.Hostname()
	}
	b.optFns = []func(*awss3.Options){b.bound}
	return b, nil
}

// customEndpoint returns the endpoint the client was configured with, if any:
// BaseEndpoint, or the URL a legacy EndpointResolver gives (gocloud.dev
// v0.47.0 turns the URL's endpoint parameter into one). An SDK client without
// either resolves AWS's own endpoints.
func customEndpoint(o awss3.Options) (string, bool) {
	if o.BaseEndpoint != nil {
		return *o.BaseEndpoint, true
	}
	// Deprecated in the SDK, but what gocloud.dev sets. An error
	// (aws.EndpointNotFoundError) makes the SDK fall back to AWS's endpoints.
	if r := o.EndpointResolver; r != nil { //nolint:staticcheck // see above
		if ep, err := r.ResolveEndpoint(o.Region, awss3.EndpointResolverOptions{}); err == nil && ep.URL != "" {
			return ep.URL, true
		}
	}
	return "", false
}

// bucket implements driver.Bucket and driver.Aser.
type bucket struct {
	client *awss3.Client
	name   string
	opts   Options
	optFns []func(*awss3.Options) // passed to every SDK call
	// endpointHost is the host of the client's custom endpoint, if it has
	// one (without port), for wrapError's hint.
	endpointHost string
	closed       atomic.Bool
	// onClose releases what the URL opener opened (the gocloud bucket); nil
	// for OpenBucket.
	onClose func() error
}

var (
	_ driver.Bucket = (*bucket)(nil)
	_ driver.Aser   = (*bucket)(nil)
)

var errClosed = errors.New("s3: bucket is closed")

// bound applies Options' limits to one call, on the call's own copy of the
// client options: the client and its retryer (with its retry quota) are
// shared, not changed.
func (b *bucket) bound(o *awss3.Options) {
	base := o.Retryer
	if base == nil {
		base = retry.NewStandard()
	}
	r := retry.AddWithMaxAttempts(base, b.opts.MaxAttempts).(aws.RetryerV2)
	o.Retryer = cappedBackoff{RetryerV2: r, max: b.opts.MaxBackoff}
	o.RetryMaxAttempts = 0 // already applied; keep the SDK from wrapping again
	if b.opts.AttemptTimeout > 0 && o.HTTPClient != nil {
		o.HTTPClient = attemptTimeout{next: o.HTTPClient, d: b.opts.AttemptTimeout}
	}
}

// retryNoter records that the SDK is about to retry a call: RetryDelay is
// asked only before a retry.
type retryNoter struct {
	aws.RetryerV2
	retried *atomic.Bool
}

func (r retryNoter) RetryDelay(attempt int, err error) (time.Duration, error) {
	r.retried.Store(true)
	return r.RetryerV2.RetryDelay(attempt, err)
}

// cappedBackoff keeps the retryer's own (jittered) delay, capped.
type cappedBackoff struct {
	aws.RetryerV2
	max time.Duration
}

func (r cappedBackoff) RetryDelay(attempt int, err error) (time.Duration, error) {
	d, derr := r.RetryerV2.RetryDelay(attempt, err)
	return min(d, r.max), derr
}

// attemptTimeout bounds one HTTP attempt, reading the body included: the
// deadline is released when the body is closed. A dropped connection or a
// stalled service thus costs one AttemptTimeout, and the SDK may try again.
type attemptTimeout struct {
	next awss3.HTTPClient
	d    time.Duration
}

func (c attemptTimeout) Do(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), c.d)
	resp, err := c.next.Do(req.WithContext(ctx))
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// Get implements driver.Bucket.
func (b *bucket) Get(ctx context.Context, key string) (driver.Object, error) {
	if b.closed.Load() {
		return driver.Object{}, errClosed
	}
	out, err := b.client.GetObject(ctx, &awss3.GetObjectInput{
		Bucket: aws.String(b.name),
		Key:    aws.String(key),
	}, b.optFns...)
	if err != nil {
		return driver.Object{}, b.wrapError(err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return driver.Object{}, b.wrapError(err)
	}
	etag := aws.ToString(out.ETag)
	if etag == "" {
		return driver.Object{}, errors.New("s3: GetObject response has no ETag")
	}
	return driver.Object{Data: data, Version: etag}, nil
}

// Put implements driver.Bucket.
func (b *bucket) Put(ctx context.Context, key string, data []byte, ifVersion string) (string, error) {
	if b.closed.Load() {
		return "", errClosed
	}
	in := &awss3.PutObjectInput{
		Bucket: aws.String(b.name),
		Key:    aws.String(key),
		Body:   bytes.NewReader(data), // seekable: the SDK rewinds it to retry
	}
	if ifVersion == driver.CreateOnly {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(ifVersion)
	}
	if b.opts.EncryptionType != "" {
		in.ServerSideEncryption = b.opts.EncryptionType
	}
	if b.opts.KMSEncryptionID != "" {
		in.SSEKMSKeyId = aws.String(b.opts.KMSEncryptionID)
	}
	// Note whether the SDK retried: a retry's 412 may be the echo of the
	// earlier attempt's own success, and must not read as a refusal.
	var retried atomic.Bool
	noteRetries := func(o *awss3.Options) {
		if r, ok := o.Retryer.(aws.RetryerV2); ok {
			o.Retryer = retryNoter{RetryerV2: r, retried: &retried}
		}
	}
	out, err := b.client.PutObject(ctx, in, append(b.optFns[:len(b.optFns):len(b.optFns)], noteRetries)...)
	if err != nil {
		// A retry's 409 ConditionalRequestConflict may be a conflict with
		// the earlier attempt itself, still being applied: no proof either.
		if s := sentinelFor(err); retried.Load() && (errors.Is(s, driver.ErrPrecondition) || errors.Is(s, driver.ErrConflict)) {
			// The sentinel's own words say the earlier attempt may have
			// landed.
			return "", fmt.Errorf("%w: %w", driver.ErrRetriedPrecondition, compact(err))
		}
		return "", b.wrapError(err)
	}
	etag := aws.ToString(out.ETag)
	if etag == "" {
		// The write landed but its version is unknown: an error that is not
		// a sentinel makes blobstore read it back.
		return "", errors.New("s3: PutObject response has no ETag")
	}
	return etag, nil
}

// Delete implements driver.Bucket: one DeleteObject, without a condition. S3
// answers a delete of a missing key with success; a 404 NoSuchKey, should a
// service give one, is success too.
func (b *bucket) Delete(ctx context.Context, key string) error {
	if b.closed.Load() {
		return errClosed
	}
	_, err := b.client.DeleteObject(ctx, &awss3.DeleteObjectInput{
		Bucket: aws.String(b.name),
		Key:    aws.String(key),
	}, b.optFns...)
	err = b.wrapError(err)
	if errors.Is(err, driver.ErrNotFound) {
		return nil
	}
	return err
}

// List implements driver.Bucket. Each entry's version is the ETag the page
// gives for the object, which is in the form GetObject and PutObject give it
// (quoted): no request per object.
func (b *bucket) List(ctx context.Context, prefix, pageToken string) ([]driver.Entry, string, error) {
	if b.closed.Load() {
		return nil, "", errClosed
	}
	in := &awss3.ListObjectsV2Input{
		Bucket:  aws.String(b.name),
		MaxKeys: aws.Int32(int32(b.opts.PageSize)),
	}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	if pageToken != "" {
		in.ContinuationToken = aws.String(pageToken)
	}
	out, err := b.client.ListObjectsV2(ctx, in, b.optFns...)
	if err != nil {
		return nil, "", b.wrapError(err)
	}
	entries := make([]driver.Entry, 0, len(out.Contents))
	for _, obj := range out.Contents {
		key, etag := aws.ToString(obj.Key), aws.ToString(obj.ETag)
		if etag == "" {
			// Not a version blobstore could compare: fail rather than
			// make every listing look like a change (or like none).
			return nil, "", fmt.Errorf("s3: ListObjectsV2 gives no ETag for object %q", key)
		}
		entries = append(entries, driver.Entry{Key: key, Version: etag, Modified: aws.ToTime(obj.LastModified)})
	}
	var next string
	if aws.ToBool(out.IsTruncated) {
		next = aws.ToString(out.NextContinuationToken)
		if next == "" {
			return nil, "", errors.New("s3: ListObjectsV2 gives a truncated page without a continuation token")
		}
	}
	return entries, next, nil
}

// As implements driver.Aser: it exposes the SDK client to a **s3.Client
// (blobstore.Store.As forwards here).
func (b *bucket) As(i any) bool {
	p, ok := i.(**awss3.Client)
	if !ok {
		return false
	}
	*p = b.client
	return true
}

// Close implements driver.Bucket.
func (b *bucket) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	if b.onClose != nil {
		return b.onClose()
	}
	return nil
}

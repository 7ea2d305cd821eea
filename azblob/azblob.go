// Package azblob is Tidemark's Azure Blob Storage provider: a driver.Bucket
// over one container, whose conditional writes are Azure's own (If-None-Match
// "*" for create-only, If-Match on the ETag for compare-and-swap).
//
// Every data operation is one request made with the SDK clients directly:
// Get is one Get Blob, Put is one Put Blob that returns the new ETag from its
// own response, Delete is one unconditional Delete Blob, List is one List
// Blobs page, which carries every blob's ETag. Writes never go through
// gocloud.dev's blob.Writer: in gocloud.dev v0.47.0 its azureblob writer
// panics in Close when a write fails, which is exactly what a losing
// conditional write does.
//
// # URLs
//
// Importing this package registers the scheme "azblob" with blobstore:
//
//	azblob://my-container?prefix=orders/billing/
//
// The host is the container name. The URL is opened by gocloud.dev's azureblob
// URL opener, so its environment variables and query parameters apply
// unchanged (gocloud.dev v0.47.0):
//   - AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY: shared key credentials.
//   - AZURE_STORAGE_SAS_TOKEN: a SAS token appended to the service URL; the
//     URL then cannot change the service endpoint.
//   - AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGEBLOB_CONNECTIONSTRING):
//     a connection string, which also names the endpoint. This is how to reach
//     Azurite: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;
//     AccountKey=...;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;".
//   - none of the above: azidentity.NewDefaultAzureCredential (environment,
//     workload identity, managed identity, Azure CLI, ...), with the account
//     from AZURE_STORAGE_ACCOUNT or the storage_account parameter.
//   - AZURE_STORAGE_DOMAIN, AZURE_STORAGE_PROTOCOL, AZURE_STORAGE_IS_CDN and
//     AZURE_STORAGE_IS_LOCAL_EMULATOR shape the service URL; the query
//     parameters domain, protocol, cdn, localemu and storage_account override
//     them for one URL.
//
// gocloud.dev reads these variables once per process, on the first open.
// The prefix parameter is consumed by blobstore before this package sees the
// URL; any other parameter, a URL path, or gocloud's key parameter is an
// error. So is a container name Azure refuses (3 to 63 lowercase letters,
// digits and hyphens), and a connection string that gocloud.dev or the SDK
// cannot use: the error names the variable and the part that is wrong (no
// AccountName, no AccountKey, a key that is not base64, a BlobEndpoint
// without http://, ...) and never shows the string, which holds the key. The
// connection string is checked on every open. OpenBucket refuses a client
// whose URL is not an http:// or https:// URL. Use OpenBucket to build the
// container client yourself.
//
// # Versions
//
// A version is the blob's ETag exactly as Get Blob and Put Blob return it in
// their ETag header, quotes included ("0x8DC..."). List Blobs returns the same
// ETag in its XML without the quotes (Azure and Azurite alike); List adds
// them, so a listed version equals the one Get and Put return for the same
// bytes.
//
// # Errors
//
// Errors wrap both a driver sentinel, when one applies, and the SDK error, so
// errors.Is and errors.As both work:
//
//	Azure answer                                   errors.Is
//	409 BlobAlreadyExists (create-only lost)       driver.ErrPrecondition
//	412 ConditionNotMet (If-Match lost)            driver.ErrPrecondition
//	404 BlobNotFound                               driver.ErrNotFound
//	404 ContainerNotFound                          driver.ErrBucketNotFound
//	400 InvalidResourceName or OutOfRangeInput     driver.ErrInvalidArgument
//	401 or 403 (AuthenticationFailed, AuthorizationFailure, ...),
//	or an azidentity authentication error         driver.ErrPermission
//
// Anything else (a timeout, a refused connection, a 5xx) wraps only the
// underlying error: for Put it means the outcome is unknown. The SDK error is
// an *azcore.ResponseError (use errors.As, or bloberror.HasCode).
//
// Messages are one line: the sentinel, if any, then the request (method and
// container URL without query), the HTTP status, Azure's error code and the
// first line of its message, e.g. "object not found: GET blob in container
// http://127.0.0.1:10000/devstoreaccount1/c: HTTP 404 BlobNotFound: The
// specified blob does not exist.", not the SDK's multi-line dump of the
// response. They name neither the operation nor the key (blobstore.Store
// adds both, once, as in `get "p/7.json": object not found: ...`), so the
// blob's URL is shown as its container's. A 400 InvalidResourceName or
// OutOfRangeInput adds the container naming rule. A SAS signature is never
// shown.
//
// # Retries and timeouts
//
// Each call sets its own azcore retry options on the request context
// (policy.WithRetryOptions), overriding the client's: every HTTP attempt is
// bounded by Options.TryTimeout; reads, listings and deletes are retried at
// most Options.MaxRetries times with short back-off (a delete is
// unconditional, so repeating it is harmless); a Put is retried only when
// the connection could not be established, because a retried conditional
// write whose first attempt landed would be refused and reported as a lost
// race. An unreachable endpoint therefore fails in seconds.
//
// # As
//
// The driver.Bucket returned by OpenBucket and by the URL opener implements
// driver.Aser: its As(any) bool method accepts a **container.Client
// (github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container), the SDK
// container client it uses, and refuses anything else. blobstore.Store.As
// forwards to it. Errors: *azcore.ResponseError via errors.As.
//
// # Keys
//
// Keys are used as blob names verbatim (URL-escaped on the wire). gocloud.dev's
// azureblob escapes some characters ("?", "#", "%", backslash, control characters,
// a trailing "/") into "__0x..__" forms; such keys, which blobstore never
// produces, would name different blobs here.
package azblob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	azblobsdk "github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// Scheme is the URL scheme this package registers with blobstore.
const Scheme = "azblob"

// Defaults for Options' zero values.
const (
	DefaultTryTimeout = 5 * time.Second
	DefaultMaxRetries = 2
	DefaultPageSize   = 1000
)

// Options configure a Bucket. The zero value (or nil) means defaults.
type Options struct {
	// TryTimeout bounds each HTTP attempt, including reading a Get's body.
	// Zero means DefaultTryTimeout.
	TryTimeout time.Duration

	// MaxRetries is how many times a Get, List or Delete is retried after a
	// transport error or a 408, 429, 500, 502, 503 or 504. Zero means
	// DefaultMaxRetries; negative means no retries. Put is never retried
	// except when no connection could be made (see the package doc).
	MaxRetries int

	// PageSize is the most keys one List call returns. Zero means
	// DefaultPageSize; Azure caps it at 5000.
	PageSize int
}

// OpenBucket returns a driver.Bucket over the container that client
// addresses. It makes no request: a missing container shows up as
// driver.ErrBucketNotFound on first use. opts may be nil.
func OpenBucket(ctx context.Context, client *container.Client, opts *Options) (driver.Bucket, error) {
	b, err := openBucket(client, opts)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func openBucket(client *container.Client, opts *Options) (*bucket, error) {
	if client == nil {
		return nil, errors.New("azblob: OpenBucket: client is required")
	}
	// The SDK accepts a URL without a scheme (a connection string's
	// BlobEndpoint=127.0.0.1:10000/...) and fails every request on it, as if
	// the service were down.
	if u, err := url.Parse(client.URL()); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("azblob: OpenBucket: container URL %s is not an http:// or https:// URL: check the endpoint (BlobEndpoint in a connection string)", withoutQuery(client.URL()))
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.TryTimeout < 0 || o.PageSize < 0 || o.PageSize > 5000 {
		return nil, fmt.Errorf("azblob: OpenBucket: invalid options %+v", o)
	}
	if o.TryTimeout == 0 {
		o.TryTimeout = DefaultTryTimeout
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultMaxRetries
	}
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	b := &bucket{client: client, pageSize: int32(o.PageSize)}
	b.readRetry = policy.RetryOptions{
		MaxRetries:    int32(o.MaxRetries), // negative: azcore makes no retries
		TryTimeout:    o.TryTimeout,
		RetryDelay:    200 * time.Millisecond,
		MaxRetryDelay: 2 * time.Second,
	}
	b.writeRetry = b.readRetry
	b.writeRetry.ShouldRetry = neverSent
	return b, nil
}

// bucket implements driver.Bucket and driver.Aser.
type bucket struct {
	client     *container.Client
	pageSize   int32
	readRetry  policy.RetryOptions
	writeRetry policy.RetryOptions
	closed     atomic.Bool
	// onClose releases what the URL opener opened (the gocloud bucket); nil
	// for OpenBucket.
	onClose func() error
}

var (
	_ driver.Bucket = (*bucket)(nil)
	_ driver.Aser   = (*bucket)(nil)
)

var errClosed = errors.New("azblob: bucket is closed")

// neverSent reports whether an attempt failed before any byte of the request
// could reach the service, the only case in which repeating a conditional
// write is safe.
func neverSent(_ *http.Response, err error) bool {
	var op *net.OpError
	return err != nil && errors.As(err, &op) && op.Op == "dial"
}

// Get implements driver.Bucket.
func (b *bucket) Get(ctx context.Context, key string) (driver.Object, error) {
	if b.closed.Load() {
		return driver.Object{}, errClosed
	}
	ctx = policy.WithRetryOptions(ctx, b.readRetry)
	resp, err := b.client.NewBlobClient(key).DownloadStream(ctx, nil)
	if err != nil {
		return driver.Object{}, b.wrapError(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if n := resp.ContentLength; n != nil && *n > 0 && *n < 64<<20 {
		buf.Grow(int(*n))
	}
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return driver.Object{}, b.wrapError(err)
	}
	if resp.ETag == nil {
		return driver.Object{}, errors.New("azblob: Get Blob response has no ETag")
	}
	return driver.Object{Data: buf.Bytes(), Version: string(*resp.ETag)}, nil
}

// Put implements driver.Bucket with one Put Blob request.
func (b *bucket) Put(ctx context.Context, key string, data []byte, ifVersion string) (string, error) {
	if b.closed.Load() {
		return "", errClosed
	}
	cond := &azblobsdk.ModifiedAccessConditions{}
	switch ifVersion {
	case driver.CreateOnly:
		cond.IfNoneMatch = to(azcore.ETagAny)
	case string(azcore.ETagAny):
		// "*" would match any existing blob: never a version this driver
		// handed out, and an unconditional overwrite if it slipped through.
		return "", fmt.Errorf("azblob: %q is not a version", ifVersion)
	default:
		cond.IfMatch = to(azcore.ETag(ifVersion))
	}
	opts := &blockblob.UploadOptions{
		AccessConditions: &azblobsdk.AccessConditions{ModifiedAccessConditions: cond},
	}
	if strings.HasSuffix(key, ".json") {
		opts.HTTPHeaders = &azblobsdk.HTTPHeaders{BlobContentType: to("application/json")}
	}
	ctx = policy.WithRetryOptions(ctx, b.writeRetry)
	body := streaming.NopCloser(bytes.NewReader(data))
	resp, err := b.client.NewBlockBlobClient(key).Upload(ctx, body, opts)
	if err != nil {
		return "", b.wrapError(err)
	}
	if resp.ETag == nil {
		// The write landed but we cannot name its version: an unknown
		// outcome for the caller, resolved by reading back.
		return "", errors.New("azblob: Put Blob response has no ETag")
	}
	return string(*resp.ETag), nil
}

// Delete implements driver.Bucket with one unconditional Delete Blob
// request. A blob that is already gone is success.
func (b *bucket) Delete(ctx context.Context, key string) error {
	if b.closed.Load() {
		return errClosed
	}
	opts := &azblobsdk.DeleteOptions{
		// A blob with snapshots (taken by an operator) cannot be deleted
		// without deciding their fate; the record goes, so do they.
		DeleteSnapshots: to(azblobsdk.DeleteSnapshotsOptionTypeInclude),
	}
	ctx = policy.WithRetryOptions(ctx, b.readRetry)
	_, err := b.client.NewBlobClient(key).Delete(ctx, opts)
	err = b.wrapError(err)
	if errors.Is(err, driver.ErrNotFound) {
		return nil // deleting a missing object succeeds
	}
	return err
}

// List implements driver.Bucket with one List Blobs request, which carries
// each blob's ETag: no request per key.
func (b *bucket) List(ctx context.Context, prefix, pageToken string) ([]driver.Entry, string, error) {
	if b.closed.Load() {
		return nil, "", errClosed
	}
	opts := &container.ListBlobsFlatOptions{MaxResults: to(b.pageSize)}
	if prefix != "" {
		opts.Prefix = to(prefix)
	}
	if pageToken != "" {
		opts.Marker = to(pageToken)
	}
	ctx = policy.WithRetryOptions(ctx, b.readRetry)
	page, err := b.client.NewListBlobsFlatPager(opts).NextPage(ctx)
	if err != nil {
		return nil, "", b.wrapError(err)
	}
	var entries []driver.Entry
	if page.Segment != nil {
		entries = make([]driver.Entry, 0, len(page.Segment.BlobItems))
		for _, item := range page.Segment.BlobItems {
			if item == nil || item.Name == nil {
				continue
			}
			if item.Properties == nil || item.Properties.ETag == nil || *item.Properties.ETag == "" {
				return nil, "", fmt.Errorf("azblob: List Blobs gave no ETag for %q", *item.Name)
			}
			var modified time.Time
			if item.Properties.LastModified != nil {
				modified = *item.Properties.LastModified
			}
			entries = append(entries, driver.Entry{Key: *item.Name, Version: headerETag(*item.Properties.ETag), Modified: modified})
		}
	}
	var next string
	if page.NextMarker != nil {
		next = *page.NextMarker
	}
	return entries, next, nil
}

// headerETag returns a List Blobs ETag in the form Get Blob and Put Blob
// return it in their ETag header: List Blobs has it unquoted in its XML
// (<Etag>0x8DC...</Etag>), the headers quoted ("0x8DC..."). One already
// quoted is kept as it is.
func headerETag(etag azcore.ETag) string {
	s := string(etag)
	if strings.HasPrefix(s, `"`) || strings.HasPrefix(s, `W/"`) {
		return s
	}
	return `"` + s + `"`
}

// As implements driver.Aser. It exposes the SDK container client: pass a
// **container.Client.
func (b *bucket) As(i any) bool {
	p, ok := i.(**container.Client)
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

func to[T any](v T) *T { return &v }

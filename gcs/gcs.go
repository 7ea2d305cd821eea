// Package gcs is Tidemark's Google Cloud Storage provider. It registers the
// "gs" URL scheme with blobstore and implements driver.Bucket on the Cloud
// Storage Go client (cloud.google.com/go/storage) over the JSON/HTTP API.
//
// The version token is the object's generation, as a decimal string; the ETag
// is never used. Every write is one single-shot upload (Writer.ChunkSize 0)
// carrying ifGenerationMatch: 0 for a create-only write, the caller's
// generation for a compare-and-swap. The new generation comes from the upload's
// response, so a write is exactly one request.
//
// # Why the storage client and not gocloud.dev/blob/gcsblob
//
// gcsblob can express every operation here only through its As escape hatches
// (the reader's *storage.Reader for the generation, BeforeWrite's
// **storage.ObjectHandle and *storage.Writer for the condition and the new
// generation, each listed object's *storage.ObjectAttrs for the generation in
// a listing), and its error codes map HTTP 403 to NotFound, which must never
// happen here. What it would add on top of the storage client is key escaping
// (of "\n", "\r" and "../", which validated keys never contain), an MD5 of
// every write, and a second layer of error wrapping. So this package calls the
// storage client directly and keeps gcsblob's URL conventions.
//
// # URLs
//
// For blobstore.Open, gcs registers for the scheme "gs": gs://BUCKET, where
// the URL host is the bucket name and the path must be empty (key prefixes
// come from the prefix= parameter, which blobstore consumes). The client uses
// Application Default Credentials
// (https://cloud.google.com/docs/authentication/production). When the
// environment variable STORAGE_EMULATOR_HOST is set (host:port, for example
// fake-gcs-server's 127.0.0.1:4443), the storage client sends every request
// there over plain HTTP and without authentication.
//
// The following query parameters are supported, as in gcsblob:
//
//   - anonymous: "true" uses an unauthenticated client.
//   - access_id: "-" uses an unauthenticated client. Other values only serve
//     gcsblob's signed URLs, which Tidemark does not make, and are an error.
//   - universe_domain: the universe domain for the client.
//
// gcsblob's grpc, zonal and private_key_path parameters are refused: the gRPC
// API is not supported by this driver. Any other parameter is an error.
//
// Opening checks what would otherwise fail every request as if the service
// were down, and reports it as an error of the URL: a bucket name Cloud
// Storage refuses (OpenBucket checks it too), a STORAGE_EMULATOR_HOST that is
// neither host:port nor an http(s) URL, and, when Application Default
// Credentials are in use (no emulator, not anonymous, no ClientOptions), a
// credentials file (GOOGLE_APPLICATION_CREDENTIALS, else gcloud's
// application_default_credentials.json) that is not JSON, has no type, or is
// a service account key whose private key does not parse. The message names
// the file, never its contents.
//
// To use your own *storage.Client, or to change Options, call OpenBucket
// instead.
//
// # Errors
//
// An error the driver classifies is the driver sentinel and the storage
// client's error, and nothing else: fmt.Errorf("%w: %w", sentinel, sdkErr),
// so errors.As still reaches the SDK error (for example *googleapi.Error). An
// error it does not classify is the storage client's error itself. Neither
// names the operation, the bucket or the key: blobstore.Store adds the
// operation and the key, once.
//
//   - HTTP 412: driver.ErrPrecondition.
//   - HTTP 401 and 403: driver.ErrPermission. Unlike gcsblob, which reports
//     403 as NotFound, a permission problem never reads as a missing object.
//   - a missing bucket: driver.ErrBucketNotFound, from Get, Put, Delete and
//     List.
//   - a missing object: driver.ErrNotFound from Get. Delete of a missing
//     object succeeds.
//   - HTTP 400 about the bucket (real GCS's "Invalid bucket name"):
//     driver.ErrInvalidArgument.
//   - anything else (5xx, 429, transport errors, deadlines): no sentinel, so
//     a Put's outcome is unknown and the Store reads it back.
//
// The mapping lives in one function, classify in errors.go.
//
// # Requests and retries
//
// Get, a successful Put, Delete and one List page are one request each. A Get
// or Delete that meets a 404 makes one more request (a one-item listing) to
// tell a missing object from a missing bucket, since the read API does not say
// which.
//
// List returns each object's generation, in the same decimal form as Get and
// Put, from the objects.list response itself: the listing asks for the name
// and generation of every item (storage.Query.SetAttrSelection, the JSON
// API's fields parameter), so a page is still one request, whatever the
// number of objects on it.
//
// Puts are never retried by the storage client (a single-shot upload streams
// its body and cannot resend it), so a 412 always means another writer won,
// never "my own earlier attempt landed". Reads and listings are retried on
// transient errors at most Options.MaxAttempts times. Deletes are
// unconditional, which the storage client's default policy does not count as
// idempotent, so it sends them once. Every operation is bounded by
// Options.RequestTimeout, so an unreachable endpoint fails within seconds
// instead of the storage client's default of retrying until the context ends.
//
// # As
//
// The driver.Bucket values returned by OpenBucket and by the URL opener
// implement driver.Aser, and blobstore.Store.As forwards to it, so a Store on
// a gs:// URL exposes the same types. As(i any) bool sets, and reports true
// for:
//   - **storage.Client: the client the bucket uses.
//   - **storage.BucketHandle: the bucket's handle, with this package's retry
//     settings.
//
// Any other target is left alone and As reports false.
//
// Errors: *googleapi.Error through errors.As, when the service answered.
//
// # Emulator notes
//
// fake-gcs-server (v1.56.1) ignores ifGenerationMatch on delete and on reads;
// the driver sends it on neither (deletes are unconditional; the Store
// releases and deletes a record with compare-and-swap writes). Its 404 bodies
// are the same "Not Found" for a missing object and a missing bucket, on the
// JSON and the XML API alike, which is why a 404 is settled by a listing
// request rather than by reading the error message. It does enforce
// ifGenerationMatch on uploads, create-only included, atomically: one of 16
// racing writers wins. Its listings carry the same generation as its reads
// and uploads, and honour maxResults.
package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	gcstorage "cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
	"google.golang.org/api/option"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

// Scheme is the URL scheme gcs registers its URLOpener under with blobstore.
const Scheme = "gs"

func init() {
	blobstore.Register(Scheme, new(URLOpener))
}

// Defaults for the zero fields of Options.
const (
	DefaultMaxAttempts    = 3
	DefaultRequestTimeout = 10 * time.Second
	DefaultPageSize       = 1000
)

// contentType is set on every object written: records are JSON.
const contentType = "application/json"

// Options sets options for OpenBucket. A nil *Options, and any zero field,
// means the default.
type Options struct {
	// MaxAttempts bounds the attempts (first try included) the storage client
	// makes for one read or listing when it meets transient errors
	// (connection refused or reset, 408, 429, 5xx). Without a bound the
	// storage client retries until the context ends. Puts and deletes are
	// never retried by the client: see the package documentation. Default
	// DefaultMaxAttempts.
	MaxAttempts int

	// RequestTimeout bounds each driver operation, retries included, when the
	// caller's context has no earlier deadline. Negative means no bound
	// beyond the caller's context. Default DefaultRequestTimeout.
	RequestTimeout time.Duration

	// PageSize is the most keys List returns per call (GCS caps it at 1000).
	// Default DefaultPageSize.
	PageSize int
}

func (o *Options) withDefaults() Options {
	var out Options
	if o != nil {
		out = *o
	}
	if out.MaxAttempts <= 0 {
		out.MaxAttempts = DefaultMaxAttempts
	}
	if out.RequestTimeout == 0 {
		out.RequestTimeout = DefaultRequestTimeout
	}
	if out.PageSize <= 0 {
		out.PageSize = DefaultPageSize
	}
	return out
}

// URLOpener opens gs://BUCKET URLs; see the package documentation for the
// URL format. The zero value uses Application Default Credentials (or the
// emulator named by STORAGE_EMULATOR_HOST) and default Options.
//
// Each bucket opened from a URL owns a storage client of its own and closes
// it on Close.
type URLOpener struct {
	// ClientOptions are passed to storage.NewClient after those derived from
	// the URL.
	ClientOptions []option.ClientOption
	// Options are passed to OpenBucket.
	Options Options
}

// OpenBucketURL opens the GCS bucket named by the URL's host.
func (o *URLOpener) OpenBucketURL(ctx context.Context, u *url.URL) (driver.Bucket, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("gcs: open %s: URL has no bucket name", u.Redacted())
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("gcs: open %s: URL path %q is not supported: use the prefix parameter for key prefixes", u.Redacted(), u.Path)
	}
	clientOpts, anonymous, err := clientOptionsFromQuery(u.Query())
	if err != nil {
		return nil, fmt.Errorf("gcs: open %s: %w", u.Redacted(), err)
	}
	if err := checkBucketName(u.Host); err != nil {
		return nil, fmt.Errorf("gcs: open %s: %w", u.Redacted(), err)
	}
	if host := os.Getenv("STORAGE_EMULATOR_HOST"); host != "" {
		if err := checkEmulatorHost(host); err != nil {
			return nil, fmt.Errorf("gcs: open %s: %w", u.Redacted(), err)
		}
	} else if !anonymous && len(o.ClientOptions) == 0 {
		// Only Application Default Credentials are in play: with the
		// emulator, anonymous access or options of the caller's (which may
		// name other credentials), the file is not read.
		if err := checkCredentials(); err != nil {
			return nil, fmt.Errorf("gcs: open %s: %w", u.Redacted(), err)
		}
	}
	clientOpts = append(clientOpts, o.ClientOptions...)
	// storage.NewClient reads STORAGE_EMULATOR_HOST itself: when it is set the
	// client targets http://HOST/storage/v1/ and skips authentication.
	client, err := gcstorage.NewClient(ctx, clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("gcs: open %s: %w", u.Redacted(), err)
	}
	opts := o.Options
	b, err := openBucket(client, u.Host, &opts, true)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("gcs: open %s: %w", u.Redacted(), err)
	}
	return b, nil
}

// clientOptionsFromQuery returns the client options the URL's parameters ask
// for, and whether they ask for an unauthenticated client.
func clientOptionsFromQuery(q url.Values) (opts []option.ClientOption, anonymous bool, err error) {
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "anonymous":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, false, fmt.Errorf("invalid value %q for query parameter %q: %w", v, k, err)
			}
			anonymous = anonymous || b
		case "access_id":
			if v != "-" {
				return nil, false, fmt.Errorf(`query parameter "access_id" only accepts "-" (an unauthenticated client): Tidemark makes no signed URLs`)
			}
			anonymous = true
		case "universe_domain":
			if v == "" {
				return nil, false, errors.New(`query parameter "universe_domain" is empty`)
			}
			opts = append(opts, option.WithUniverseDomain(v))
		case "grpc", "zonal", "private_key_path":
			return nil, false, fmt.Errorf("query parameter %q is not supported by the tidemark gcs driver", k)
		default:
			return nil, false, fmt.Errorf("invalid query parameter %q", k)
		}
	}
	if anonymous {
		opts = append(opts, option.WithoutAuthentication())
	}
	return opts, anonymous, nil
}

// OpenBucket returns a driver.Bucket for the existing GCS bucket named bucket,
// using client, which must use the JSON/HTTP API (storage.NewClient, not
// NewGRPCClient). The caller keeps ownership of client: closing the returned
// Bucket does not close it.
//
// OpenBucket makes no request; a missing bucket shows up as
// driver.ErrBucketNotFound from the first operation.
func OpenBucket(ctx context.Context, client *gcstorage.Client, bucket string, opts *Options) (driver.Bucket, error) {
	_ = ctx // no request is made; kept for the provider-wide signature
	return openBucket(client, bucket, opts, false)
}

func openBucket(client *gcstorage.Client, name string, opts *Options, ownsClient bool) (*bucket, error) {
	if client == nil {
		return nil, errors.New("gcs: OpenBucket: client is required")
	}
	if name == "" {
		return nil, errors.New("gcs: OpenBucket: bucket name is required")
	}
	if err := checkBucketName(name); err != nil {
		return nil, fmt.Errorf("gcs: OpenBucket: %w", err)
	}
	o := opts.withDefaults()
	// client.Bucket clones the client's retry settings, so this Retryer call
	// changes only our handle; every ObjectHandle made from it clones it again.
	bh := client.Bucket(name).Retryer(gcstorage.WithMaxAttempts(o.MaxAttempts))
	return &bucket{
		client:     client,
		bh:         bh,
		name:       name,
		opts:       o,
		ownsClient: ownsClient,
	}, nil
}

// bucket implements driver.Bucket on one GCS bucket.
type bucket struct {
	client     *gcstorage.Client
	bh         *gcstorage.BucketHandle
	name       string
	opts       Options
	ownsClient bool
	closeOnce  sync.Once
	closeErr   error
}

var (
	_ driver.Bucket = (*bucket)(nil)
	_ driver.Aser   = (*bucket)(nil)
)

// withTimeout applies Options.RequestTimeout to one operation.
func (b *bucket) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if b.opts.RequestTimeout < 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, b.opts.RequestTimeout)
}

// Get implements driver.Bucket. One request; a 404 costs one more to tell a
// missing object from a missing bucket.
func (b *bucket) Get(ctx context.Context, key string) (driver.Object, error) {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	r, err := b.bh.Object(key).NewReader(ctx)
	if err != nil {
		if errors.Is(err, gcstorage.ErrObjectNotExist) {
			if berr := b.bucketMissing(ctx); berr != nil {
				err = berr
			}
		}
		return driver.Object{}, wrapErr(opGet, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return driver.Object{}, wrapErr(opGet, err)
	}
	if r.Attrs.Generation <= 0 {
		// The version token is the generation; without it the caller could
		// never write again, so this is an error, not an empty version.
		return driver.Object{}, errNoGeneration
	}
	return driver.Object{Data: data, Version: formatGeneration(r.Attrs.Generation)}, nil
}

// bucketMissing returns storage.ErrBucketNotExist (wrapped) when a one-item
// listing says the bucket does not exist, and nil otherwise: the 404 of a
// read or delete then stands for the object. A listing needs only
// storage.objects.list, which every role that reads objects has; a probe that
// fails for another reason leaves the object's 404 as the answer.
func (b *bucket) bucketMissing(ctx context.Context) error {
	q := &gcstorage.Query{}
	if err := q.SetAttrSelection([]string{"Name"}); err != nil {
		return nil
	}
	it := b.bh.Objects(ctx, q)
	it.PageInfo().MaxSize = 1
	_, err := it.Next()
	if errors.Is(err, gcstorage.ErrBucketNotExist) {
		return err
	}
	return nil
}

// Put implements driver.Bucket: one single-shot upload with ifGenerationMatch.
func (b *bucket) Put(ctx context.Context, key string, data []byte, ifVersion string) (string, error) {
	cond := gcstorage.Conditions{DoesNotExist: true} // ifGenerationMatch=0
	if ifVersion != driver.CreateOnly {
		gen, err := parseGeneration(ifVersion)
		if err != nil {
			// No object can have this version, so the condition does not hold.
			return "", fmt.Errorf("%w: %w", driver.ErrPrecondition, err)
		}
		cond = gcstorage.Conditions{GenerationMatch: gen}
	}
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	w := b.bh.Object(key).If(cond).NewWriter(ctx)
	// ChunkSize 0: one request, no 16 MiB buffer. It also means the client
	// cannot resend the body, so it never retries a Put (see package doc).
	w.ChunkSize = 0
	w.ContentType = contentType
	_, werr := w.Write(data)
	// Close reports the upload's outcome; a failed Write is the same error
	// seen earlier, so Close's error is the one to keep.
	if err := w.Close(); err != nil || werr != nil {
		if err == nil {
			err = werr
		}
		return "", wrapErr(opPut, err)
	}
	attrs := w.Attrs()
	if attrs == nil || attrs.Generation <= 0 {
		return "", errNoGeneration
	}
	return formatGeneration(attrs.Generation), nil
}

// Delete implements driver.Bucket: one unconditional objects.delete request.
// Deleting a missing object succeeds; a 404 costs one more request to tell a
// missing object from a missing bucket.
func (b *bucket) Delete(ctx context.Context, key string) error {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	err := b.bh.Object(key).Delete(ctx)
	if errors.Is(err, gcstorage.ErrObjectNotExist) {
		berr := b.bucketMissing(ctx)
		if berr == nil {
			return nil // deleting a missing object succeeds
		}
		err = berr
	}
	return wrapErr(opDelete, err)
}

// listAttrs are the object attributes a listing asks for (the JSON API's
// fields=nextPageToken,prefixes,items(name,generation)): the key and its
// version token, and nothing else.
var listAttrs = []string{"Name", "Generation", "Updated"}

// List implements driver.Bucket: one objects.list request per call. Each
// entry's version is the generation the listing carries, formatted as Get and
// Put format it.
func (b *bucket) List(ctx context.Context, prefix, pageToken string) ([]driver.Entry, string, error) {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	q := &gcstorage.Query{Prefix: prefix}
	if err := q.SetAttrSelection(listAttrs); err != nil {
		return nil, "", err
	}
	var objs []*gcstorage.ObjectAttrs
	next, err := iterator.NewPager(b.bh.Objects(ctx, q), b.opts.PageSize, pageToken).NextPage(&objs)
	if err != nil {
		return nil, "", wrapErr(opList, err)
	}
	entries := make([]driver.Entry, 0, len(objs))
	for _, a := range objs {
		if a.Name == "" {
			continue // a synthetic prefix entry; none without a delimiter
		}
		if a.Generation <= 0 {
			// The same rule as Get: a version token the caller cannot write
			// with is an error, not an empty version.
			return nil, "", fmt.Errorf("%w (listed object %q)", errNoGeneration, a.Name)
		}
		entries = append(entries, driver.Entry{Key: a.Name, Version: formatGeneration(a.Generation), Modified: a.Updated})
	}
	return entries, next, nil
}

// As implements driver.Aser for the storage client types listed in the
// package documentation; blobstore.Store.As forwards to it.
func (b *bucket) As(i any) bool {
	switch p := i.(type) {
	case **gcstorage.Client:
		*p = b.client
	case **gcstorage.BucketHandle:
		*p = b.bh
	default:
		return false
	}
	return true
}

// Close implements driver.Bucket. It closes the storage client only if the
// bucket created it (URL opener).
func (b *bucket) Close() error {
	b.closeOnce.Do(func() {
		if b.ownsClient {
			b.closeErr = b.client.Close()
		}
	})
	return b.closeErr
}

// errNoGeneration reports a response (a read, an upload or a listing) that
// lacks the object's generation, the version token.
var errNoGeneration = errors.New("gcs: response carries no object generation")

// formatGeneration is the version token of a generation, the one form Get,
// Put and List return.
func formatGeneration(gen int64) string { return strconv.FormatInt(gen, 10) }

func parseGeneration(v string) (int64, error) {
	gen, err := strconv.ParseInt(v, 10, 64)
	if err != nil || gen <= 0 {
		return 0, fmt.Errorf("version %q is not a GCS object generation", v)
	}
	return gen, nil
}

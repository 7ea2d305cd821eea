package azblob

import (
	"context"
	"fmt"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

func init() {
	blobstore.Register(Scheme, new(URLOpener))
}

// URLOpener opens azblob://CONTAINER URLs; see the package doc for the
// environment variables and query parameters. It is registered for Scheme.
type URLOpener struct {
	// Options are passed to OpenBucket.
	Options Options
}

// OpenBucketURL implements blobstore.BucketURLOpener. It lets gocloud.dev's
// azureblob opener build the container client (credentials, service URL,
// SAS origin check) and takes the client with Bucket.As; gocloud's bucket is
// used for nothing else.
func (o *URLOpener) OpenBucketURL(ctx context.Context, u *url.URL) (driver.Bucket, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("azblob: URL %q names no container", u.Redacted())
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("azblob: URL %q has a path; use the prefix parameter", u.Redacted())
	}
	q := u.Query()
	for _, p := range []string{"prefix", "key"} {
		// gocloud's mux would apply these to its own bucket, which this
		// driver bypasses: refuse rather than ignore them.
		if q.Has(p) {
			return nil, fmt.Errorf("azblob: URL parameter %q is not supported here", p)
		}
	}
	gu := *u
	gu.Scheme = azureblob.Scheme
	gu.Path = ""
	gb, err := blob.DefaultURLMux().OpenBucketURL(ctx, &gu)
	if err != nil {
		return nil, fmt.Errorf("azblob: open %q: %w", u.Redacted(), err)
	}
	var client *container.Client
	if !gb.As(&client) {
		_ = gb.Close()
		return nil, fmt.Errorf("azblob: open %q: gocloud bucket exposes no *container.Client", u.Redacted())
	}
	b, err := openBucket(client, &o.Options)
	if err != nil {
		_ = gb.Close()
		return nil, err
	}
	b.onClose = gb.Close
	return b, nil
}

package s3

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"gocloud.dev/blob/s3blob"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
)

func init() {
	blobstore.Register(Scheme, new(URLOpener))
}

// URLOpener opens s3://BUCKET URLs; see the package doc for the query
// parameters and credentials. It is registered for Scheme.
type URLOpener struct {
	// Options are passed to OpenBucket; the URL's ssetype and kmskeyid
	// parameters override EncryptionType and KMSEncryptionID.
	Options Options
}

// OpenBucketURL implements blobstore.BucketURLOpener. It lets gocloud.dev's
// s3blob URL opener parse the parameters and build the client (region,
// endpoint, path style, credentials chain, ...) and takes the client with
// Bucket.As; gocloud's bucket is used for nothing else.
func (o *URLOpener) OpenBucketURL(ctx context.Context, u *url.URL) (driver.Bucket, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("s3: URL %q names no bucket", u.Redacted())
	}
	if u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("s3: URL %q has a path; use the prefix parameter", u.Redacted())
	}
	opts := o.Options
	q := u.Query()
	// s3blob applies these to its own writes, which this driver bypasses:
	// read them here too so that our writes honour them.
	if v := q.Get("ssetype"); v != "" {
		t, err := encryptionType(v)
		if err != nil {
			return nil, fmt.Errorf("s3: URL %q: %w", u.Redacted(), err)
		}
		opts.EncryptionType = t
	}
	if v := q.Get("kmskeyid"); v != "" {
		opts.KMSEncryptionID = v
	}
	gu := *u
	gu.Scheme = s3blob.Scheme
	gu.Path = ""
	// The opener itself, not gocloud's URL mux: the mux would consume the
	// prefix and key parameters for its own bucket, which this driver
	// bypasses; s3blob refuses them as unknown instead.
	gb, err := new(s3blob.URLOpener).OpenBucketURL(ctx, &gu)
	if err != nil {
		return nil, fmt.Errorf("s3: open %q: %w", u.Redacted(), err)
	}
	var client *awss3.Client
	if !gb.As(&client) {
		_ = gb.Close()
		return nil, fmt.Errorf("s3: open %q: gocloud bucket exposes no *s3.Client", u.Redacted())
	}
	b, err := openBucket(client, u.Host, &opts)
	if err != nil {
		_ = gb.Close()
		return nil, err
	}
	b.onClose = gb.Close
	return b, nil
}

// encryptionType matches s3blob's parsing of the ssetype parameter.
func encryptionType(v string) (types.ServerSideEncryption, error) {
	for _, t := range types.ServerSideEncryptionAes256.Values() {
		if strings.EqualFold(string(t), v) {
			return t, nil
		}
	}
	return "", fmt.Errorf("%q is not a valid value for %q", v, "ssetype")
}

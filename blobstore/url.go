package blobstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/filebucket"
	"github.com/tidemark/tidemark/blobstore/membucket"
)

// Open opens a Store on the URL's provider. "mem://" and "file:///abs/dir"
// are built in; importing a provider package (s3, gcs, azblob) registers its
// scheme. The URL's "prefix" parameter sets Options.Prefix when that is
// empty; every other parameter belongs to the provider.
func Open(ctx context.Context, rawURL string, opts *Options) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, redactURLError(err))
	}
	if u.Scheme == "" {
		return nil, fmt.Errorf("%w: %q has no scheme (want one of %s)", ErrInvalidURL, DisplayURL(u), strings.Join(Schemes(), ", "))
	}
	opener, ok := lookupScheme(u.Scheme)
	if !ok {
		return nil, fmt.Errorf("%w: unknown scheme %q (registered: %s; import the provider package to add one)",
			ErrInvalidURL, u.Scheme, strings.Join(Schemes(), ", "))
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	q := u.Query()
	if p := q.Get("prefix"); p != "" && o.Prefix == "" {
		o.Prefix = p
	}
	q.Del("prefix")
	u.RawQuery = q.Encode()
	bkt, err := opener.OpenBucketURL(ctx, u)
	if err != nil {
		err = scrub(err, u)
		if isOurs(err) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidURL, DisplayURL(u), err)
	}
	s, err := New(bkt, &o)
	if err != nil {
		bkt.Close()
		return nil, err
	}
	return s, nil
}

// scrubbed is an error whose message has a URL's secrets removed. It unwraps
// to the original, so errors.Is and errors.As still reach it.
type scrubbed struct {
	err     error
	secrets []string
}

func (e *scrubbed) Error() string {
	msg := e.err.Error()
	for _, s := range e.secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return msg
}

func (e *scrubbed) Unwrap() error { return e.err }

// secretParam reports whether a query parameter's value looks like a secret.
func secretParam(name string) bool {
	name = strings.ToLower(name)
	for _, word := range []string{"key", "secret", "token", "sig", "password", "credential"} {
		if strings.Contains(name, word) {
			return true
		}
	}
	return false
}

// DisplayURL returns u as it may be shown or logged: the userinfo password
// and the values of secret-looking query parameters are replaced by "xxxxx".
func DisplayURL(u *url.URL) string {
	c := *u
	q := c.Query()
	for k := range q {
		if secretParam(k) {
			q.Set(k, "xxxxx")
		}
	}
	c.RawQuery = q.Encode()
	return c.Redacted()
}

// scrub removes from err's message the secrets a store URL may carry: the
// userinfo password and the values of query parameters that look secret.
// Providers' libraries sometimes echo the URL they were given.
func scrub(err error, u *url.URL) error {
	var secrets []string
	if pw, ok := u.User.Password(); ok && pw != "" {
		secrets = append(secrets, pw, url.QueryEscape(pw))
	}
	for k, vs := range u.Query() {
		if !secretParam(k) {
			continue
		}
		for _, v := range vs {
			if len(v) >= 4 {
				secrets = append(secrets, v, url.QueryEscape(v))
			}
		}
	}
	if len(secrets) == 0 {
		return err
	}
	return &scrubbed{err: err, secrets: secrets}
}

// redactURLError drops the URL, which may hold credentials, from a parse error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func init() {
	Register("mem", BucketURLOpenerFunc(func(_ context.Context, u *url.URL) (driver.Bucket, error) {
		if len(u.Query()) > 0 {
			return nil, fmt.Errorf("mem: unknown parameters %q", u.RawQuery)
		}
		name := u.Host + u.Path
		if name == "" {
			return membucket.New(), nil
		}
		return membucket.Open(name), nil
	}))
	Register("file", BucketURLOpenerFunc(func(_ context.Context, u *url.URL) (driver.Bucket, error) {
		if len(u.Query()) > 0 {
			return nil, fmt.Errorf("file: unknown parameters %q", u.RawQuery)
		}
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("file: want file:///absolute/path, got host %q", u.Host)
		}
		return filebucket.Open(filepath.FromSlash(u.Path))
	}))
}

package blobstore

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"sync"

	"github.com/tidemark/tidemark/blobstore/driver"
)

// BucketURLOpener opens a driver.Bucket from a URL. Provider packages register
// one per scheme in their init function.
//
// The URL passed to OpenBucketURL has been checked by ParseStoreURL: it has
// a scheme and no fragment, and its query parses exactly with each parameter
// given once. It no longer carries the query parameters that Open consumes
// itself (prefix); the others are as the user typed them, each the
// provider's to interpret, and an unknown one must be an error. An error
// should name parameters, not their values; Open scrubs the URL's
// credentials from it anyway (see ScrubSecrets).
type BucketURLOpener interface {
	OpenBucketURL(ctx context.Context, u *url.URL) (driver.Bucket, error)
}

// BucketURLOpenerFunc adapts a function to BucketURLOpener.
type BucketURLOpenerFunc func(ctx context.Context, u *url.URL) (driver.Bucket, error)

// OpenBucketURL calls f(ctx, u).
func (f BucketURLOpenerFunc) OpenBucketURL(ctx context.Context, u *url.URL) (driver.Bucket, error) {
	return f(ctx, u)
}

var registry = struct {
	sync.RWMutex
	m map[string]BucketURLOpener
}{m: map[string]BucketURLOpener{}}

// Register makes a URL scheme available to Open. It panics if scheme is
// empty or already registered: both are programming errors found at init, as
// with database/sql's Register. A test that registers a scheme must do so
// once per process (in init, or under a sync.Once), not once per run, or
// go test -count=N panics.
func Register(scheme string, opener BucketURLOpener) {
	registry.Lock()
	defer registry.Unlock()
	if scheme == "" || opener == nil {
		panic("blobstore: Register with empty scheme or nil opener")
	}
	if _, dup := registry.m[scheme]; dup {
		panic(fmt.Sprintf("blobstore: scheme %q registered twice", scheme))
	}
	registry.m[scheme] = opener
}

// Schemes returns the registered URL schemes, sorted.
func Schemes() []string {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]string, 0, len(registry.m))
	for s := range registry.m {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func lookupScheme(scheme string) (BucketURLOpener, bool) {
	registry.RLock()
	defer registry.RUnlock()
	o, ok := registry.m[scheme]
	return o, ok
}

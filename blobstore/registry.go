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
// The URL passed to OpenBucketURL no longer carries the query parameters that
// Open consumes itself (prefix); every other parameter is the provider's to
// interpret, and an unknown one must be an error.
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
// empty or already registered: both are programming errors found at init.
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

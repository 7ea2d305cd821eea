package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/tidemark/tidemark/blobstore"
	"github.com/tidemark/tidemark/blobstore/driver"
	"github.com/tidemark/tidemark/blobstore/filebucket"
)

// Test-only store schemes, registered for the in-process tests (the built
// binary does not have them):
//
//	tmparams:///ABS/DIR?any=thing  a file store that accepts any parameter,
//	                               so URLs with credentials in them succeed
//	tmfault://KIND                 a store whose every call fails: KIND is
//	                               nobucket, denied or down
const (
	schemeParams = "tmparams"
	schemeFault  = "tmfault"
)

func init() {
	blobstore.Register(schemeParams, blobstore.BucketURLOpenerFunc(func(_ context.Context, u *url.URL) (driver.Bucket, error) {
		return filebucket.Open(filepath.FromSlash(u.Path))
	}))
	blobstore.Register(schemeFault, blobstore.BucketURLOpenerFunc(func(_ context.Context, u *url.URL) (driver.Bucket, error) {
		switch u.Host {
		case "nobucket":
			return faultBucket{fmt.Errorf("fake: bucket %q: %w", "tm-missing", driver.ErrBucketNotFound)}, nil
		case "denied":
			return faultBucket{fmt.Errorf("fake: 403 Forbidden: %w", driver.ErrPermission)}, nil
		case "down":
			return faultBucket{errors.New("fake: dial tcp 127.0.0.1:1: connection refused")}, nil
		}
		return nil, fmt.Errorf("tmfault: unknown kind %q", u.Host)
	}))
}

// faultBucket fails every call with err.
type faultBucket struct{ err error }

func (b faultBucket) Get(context.Context, string) (driver.Object, error) {
	return driver.Object{}, b.err
}
func (b faultBucket) Put(context.Context, string, []byte, string) (string, error) {
	return "", b.err
}
func (b faultBucket) Delete(context.Context, string) error { return b.err }
func (b faultBucket) List(context.Context, string, string) ([]driver.Entry, string, error) {
	return nil, "", b.err
}
func (b faultBucket) Close() error { return nil }

// hookedCorruptRecords is a Store's corrupt-record calls with beforeRemove
// run between the plan's read and the removal (a concurrent repair), and the
// versions RemoveCorrupt was given recorded.
type hookedCorruptRecords struct {
	corruptRecords
	beforeRemove func()
	removed      []string
}

func (h *hookedCorruptRecords) RemoveCorrupt(ctx context.Context, id, version string) error {
	if h.beforeRemove != nil {
		h.beforeRemove()
	}
	h.removed = append(h.removed, version)
	return h.corruptRecords.RemoveCorrupt(ctx, id, version)
}

// fileStoreDir returns the directory of a file:// URL made by
// newFileStoreURL.
func fileStoreDir(u string) string {
	return filepath.FromSlash(strings.TrimPrefix(strings.Split(u, "?")[0], "file://"))
}
